// Reading request bodies: base64url fields, optional objects, each refusal naming its field.
import { HsmError } from '../hsm/errors.js';

const BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/;

export type Body = Record<string, unknown>;

export function bodyOf(body: unknown): Body {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw new HsmError('BadParameter', 'The request body must be a JSON object');
  return body as Body;
}

export function bytesField(body: Body, field: string, required: true): Buffer;
export function bytesField(body: Body, field: string, required?: false): Buffer | undefined;
export function bytesField(body: Body, field: string, required = false): Buffer | undefined {
  const value = body[field];
  if (value === undefined || value === null) {
    if (required) throw new HsmError('BadParameter', `${field}: required`);
    return undefined;
  }
  if (typeof value !== 'string' || !BASE64URL.test(value) || value.replace(/=+$/, '').length % 4 === 1) {
    throw new HsmError('BadParameter', `${field}: must be base64url`);
  }
  return Buffer.from(value, 'base64url');
}

export function b64(value: Buffer): string {
  return value.toString('base64url');
}

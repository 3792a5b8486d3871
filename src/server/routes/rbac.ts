// Local RBAC endpoints: role definitions and role assignments under
// {scope}/providers/Microsoft.Authorization, for the scopes '/', '/keys' and '/keys/{name}'.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HsmError } from '../../hsm/errors.js';
import { type AccessControl, type AssignmentFilter, type RoleDefinitionView } from '../../rbac/access-control.js';
import type { OperationName } from '../operations.js';
import { parseScope } from '../../rbac/scopes.js';
import type { RoleAssignmentRecord } from '../../store/access-store.js';
import { bodyOf } from '../wire.js';
import { checkApiVersion } from './api-version.js';

const PROVIDER = '/providers/Microsoft.Authorization';

/** The scope a route's URL names; '/keys/:scopeKey' routes take the key from the path. */
export type ScopePrefix = '/' | '/keys' | '/keys/:scopeKey';

export function routeScope(prefix: ScopePrefix, params: unknown): string {
  return prefix === '/keys/:scopeKey' ? parseScope(`/keys/${(params as { scopeKey: string }).scopeKey}`) : prefix;
}

export function roleDefinitionId(name: string): string {
  return `Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/${name}`;
}

function definitionBody(definition: RoleDefinitionView) {
  return {
    id: roleDefinitionId(definition.name),
    name: definition.name,
    type: 'Microsoft.Authorization/roleDefinitions',
    properties: {
      roleName: definition.roleName,
      description: definition.description,
      type: definition.type,
      permissions: definition.permissions,
      assignableScopes: definition.assignableScopes,
    },
  };
}

/** The id never names the scope, whatever it is (recorded for /keys); properties.scope does. */
function assignmentBody(assignment: RoleAssignmentRecord) {
  return {
    id: `${PROVIDER}/roleAssignments/${assignment.name}`,
    name: assignment.name,
    type: 'Microsoft.Authorization/roleAssignments',
    properties: {
      scope: assignment.scope,
      roleDefinitionId: roleDefinitionId(assignment.roleDefinitionName),
      principalId: assignment.principalId,
    },
  };
}

function filterOf(request: FastifyRequest): string | undefined {
  const value = (request.query as Record<string, unknown>).$filter;
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

/** $filter for assignments: atScope(), principalId eq '{id}', or both joined by 'and'. */
function assignmentFilter(text: string | undefined): AssignmentFilter {
  const filter: AssignmentFilter = {};
  if (text === undefined) return filter;
  for (const clause of text.split(/\s+and\s+/i)) {
    const principal = /^principalId\s+eq\s+'([^']*)'$/i.exec(clause);
    if (/^atScope\(\)$/i.test(clause)) filter.atScope = true;
    else if (principal) filter.principalId = principal[1];
    else throw new HsmError('BadParameter', "$filter: supported are atScope() and principalId eq '{id}'");
  }
  return filter;
}

/** $filter for definitions: roleName eq '{name}'. */
function definitionFilter(text: string | undefined): { roleName?: string } {
  if (text === undefined) return {};
  const match = /^roleName\s+eq\s+'([^']*)'$/i.exec(text);
  if (!match) throw new HsmError('BadParameter', "$filter: supported is roleName eq '{name}'");
  return { roleName: match[1] };
}

export function registerRbacRoutes(app: FastifyInstance, access: AccessControl): void {
  const config = (operation: OperationName, scopePrefix: ScopePrefix) => ({ config: { operation, scopePrefix } });
  const properties = (request: FastifyRequest) => {
    const body = bodyOf(request.body);
    const value = body.properties;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new HsmError('BadParameter', 'properties: required, an object');
    return value as Record<string, unknown>;
  };

  // Role definitions are made at '/' only; they are read at every scope (the Azure CLI reads them
  // at the scope it assigns at).
  const definitions = `${PROVIDER}/roleDefinitions`;
  for (const prefix of ['/', '/keys', '/keys/:scopeKey'] as const) {
    const at = `${prefix === '/' ? '' : prefix}${definitions}`;
    app.get(at, config('listRoleDefinitions', prefix), async (request) => {
      checkApiVersion(request);
      routeScope(prefix, request.params);
      return { value: access.listRoleDefinitions(definitionFilter(filterOf(request))).map(definitionBody) };
    });
    app.get(`${at}/:definition`, config('getRoleDefinition', prefix), async (request) => {
      checkApiVersion(request);
      return definitionBody(access.getRoleDefinition((request.params as { definition: string }).definition));
    });
  }
  app.put(`${definitions}/:definition`, config('setRoleDefinition', '/'), async (request, reply) => {
    checkApiVersion(request);
    const definition = access.setRoleDefinition((request.params as { definition: string }).definition, properties(request));
    return reply.code(201).send(definitionBody(definition));
  });
  app.delete(`${definitions}/:definition`, config('deleteRoleDefinition', '/'), async (request) => {
    checkApiVersion(request);
    return definitionBody(access.deleteRoleDefinition((request.params as { definition: string }).definition));
  });

  for (const prefix of ['/', '/keys', '/keys/:scopeKey'] as const) {
    const assignments = `${prefix === '/' ? '' : prefix}${PROVIDER}/roleAssignments`;
    app.get(assignments, config('listRoleAssignments', prefix), async (request) => {
      checkApiVersion(request);
      const scope = routeScope(prefix, request.params);
      return { value: access.listRoleAssignments(scope, assignmentFilter(filterOf(request))).map(assignmentBody) };
    });
    app.get(`${assignments}/:assignment`, config('getRoleAssignment', prefix), async (request) => {
      checkApiVersion(request);
      const scope = routeScope(prefix, request.params);
      return assignmentBody(access.getRoleAssignment((request.params as { assignment: string }).assignment, scope));
    });
    app.put(`${assignments}/:assignment`, config('createRoleAssignment', prefix), async (request, reply) => {
      checkApiVersion(request);
      const scope = routeScope(prefix, request.params);
      const assignment = access.createRoleAssignment((request.params as { assignment: string }).assignment, scope, properties(request));
      return reply.code(201).send(assignmentBody(assignment));
    });
    app.delete(`${assignments}/:assignment`, config('deleteRoleAssignment', prefix), async (request) => {
      checkApiVersion(request);
      const scope = routeScope(prefix, request.params);
      return assignmentBody(access.deleteRoleAssignment((request.params as { assignment: string }).assignment, scope));
    });
  }
}

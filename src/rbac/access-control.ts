// Local RBAC: role definitions (built-in and custom), role assignments, and the decision whether a
// principal may perform a data action at a scope. Deny unless an assignment grants it.
import { randomUUID } from 'node:crypto';
import { HsmError } from '../hsm/errors.js';
import type { AccessStore, Permission, RoleAssignmentRecord, RoleDefinitionRecord } from '../store/access-store.js';
import { ExternalChanges } from '../store/external-changes.js';
import { BUILT_IN_ROLES, BUILT_IN_ROLE_LIST, builtInRole } from './built-in-roles.js';
import { covers, parseScope, sameScope } from './scopes.js';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const INITIAL_ASSIGNMENTS_MARKER = 'initial-role-assignments';
const MAX_STRING = 512;
const MAX_ACTIONS = 256;

export interface RoleDefinitionView extends RoleDefinitionRecord {
  type: 'AKVBuiltInRole' | 'CustomRole';
}

/** What a caller sends to create or replace a custom role definition. */
export interface RoleDefinitionInput {
  roleName?: unknown;
  description?: unknown;
  type?: unknown;
  permissions?: unknown;
  assignableScopes?: unknown;
}

export interface AssignmentFilter {
  /** $filter=atScope(): only assignments at the scope or above it. */
  atScope?: boolean;
  principalId?: string;
}

/** The trailing GUID of a role definition id in any of its forms, or the GUID itself. */
export function roleDefinitionGuid(id: string): string | undefined {
  const last = id.split('/').pop() ?? '';
  return GUID.test(last) ? last.toLowerCase() : undefined;
}

function requireGuid(value: string, what: string): string {
  if (!GUID.test(value)) throw new HsmError('BadParameter', `${what} must be a GUID`);
  return value.toLowerCase();
}

function stringList(value: unknown, field: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.length > MAX_ACTIONS || value.some((v) => typeof v !== 'string' || v === '' || v.length > MAX_STRING)) {
    throw new HsmError('BadParameter', `${field}: must be an array of at most ${MAX_ACTIONS} non-empty strings`);
  }
  return value as string[];
}

function parsePermissions(value: unknown): Permission[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > 16) {
    throw new HsmError('BadParameter', 'properties.permissions: must be an array of 1 to 16 permission objects');
  }
  return value.map((entry, i) => {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw new HsmError('BadParameter', `properties.permissions[${i}]: must be an object`);
    }
    const p = entry as Record<string, unknown>;
    return {
      actions: stringList(p.actions, `properties.permissions[${i}].actions`),
      notActions: stringList(p.notActions, `properties.permissions[${i}].notActions`),
      dataActions: stringList(p.dataActions, `properties.permissions[${i}].dataActions`),
      notDataActions: stringList(p.notDataActions, `properties.permissions[${i}].notDataActions`),
    };
  });
}

/**
 * Whether an action matches a pattern, without case; '*' stands for any run of characters.
 * Matched piece by piece (no regular expression), so a pattern of many stars stays linear.
 */
function globMatches(pattern: string, action: string): boolean {
  const pieces = pattern.toLowerCase().split('*');
  const text = action.toLowerCase();
  if (pieces.length === 1) return pieces[0] === text;
  const first = pieces[0] as string;
  const last = pieces[pieces.length - 1] as string;
  if (!text.startsWith(first) || !text.endsWith(last) || first.length + last.length > text.length) return false;
  let at = first.length;
  const end = text.length - last.length;
  for (const piece of pieces.slice(1, -1)) {
    const found = text.indexOf(piece, at);
    if (found < 0 || found + piece.length > end) return false;
    at = found + piece.length;
  }
  return true;
}

/** A permission's action lists, lower-cased once: exact actions in a set, wildcards apart. */
class ActionMatcher {
  readonly #exact = new Set<string>();
  readonly #patterns: string[] = [];

  constructor(actions: readonly string[]) {
    for (const action of actions) {
      if (action.includes('*')) this.#patterns.push(action.toLowerCase());
      else this.#exact.add(action.toLowerCase());
    }
  }

  matches(action: string): boolean {
    return this.#exact.has(action) || this.#patterns.some((pattern) => globMatches(pattern, action));
  }
}

/** A definition ready to answer: allowed when a permission grants the action and does not take it away. */
type CompiledDefinition = Array<{ allow: ActionMatcher; deny: ActionMatcher }>;

function compile(definition: RoleDefinitionRecord): CompiledDefinition {
  return definition.permissions.map((p) => ({ allow: new ActionMatcher(p.dataActions), deny: new ActionMatcher(p.notDataActions) }));
}

function grants(definition: CompiledDefinition, action: string): boolean {
  const lower = action.toLowerCase();
  return definition.some((p) => p.allow.matches(lower) && !p.deny.matches(lower));
}

/** The service's published limits on local RBAC. */
export interface RbacLimits {
  /** Custom role definitions per HSM. */
  roleDefinitions: number;
  /** Role assignments at the HSM's root scope (/ and /keys). */
  rootAssignments: number;
  /** Role assignments at one key's scope (/keys/{name}). */
  keyAssignments: number;
}

export const RBAC_LIMITS: RbacLimits = { roleDefinitions: 50, rootAssignments: 50, keyAssignments: 10 };

export class AccessControl {
  /** Compiled definitions and each principal's assignments, kept until something changes them. */
  readonly #compiled = new Map<string, CompiledDefinition | null>();
  readonly #assignments = new Map<string, RoleAssignmentRecord[]>();
  readonly #externalChanges: ExternalChanges;

  constructor(
    private readonly store: AccessStore,
    private readonly limits: RbacLimits = RBAC_LIMITS,
  ) {
    this.#externalChanges = new ExternalChanges(store);
  }

  /** Drops the caches: after our own writes, or when another connection wrote. */
  #invalidate(): void {
    this.#compiled.clear();
    this.#assignments.clear();
  }

  /** After the store's role definitions and assignments were replaced under us (a full restore). */
  reload(): void {
    this.#invalidate();
  }


  /**
   * The first start of a data directory assigns the initial administrator the Administrator role
   * at '/', and, unless the HSM is activated by hand, Crypto Officer and Crypto User too, so that
   * the administrator can use keys at once.
   */
  bootstrap(adminObjectId: string, manualActivation: boolean): void {
    if (this.store.marker(INITIAL_ASSIGNMENTS_MARKER) !== undefined) return;
    const roles = manualActivation
      ? [BUILT_IN_ROLES.administrator]
      : [BUILT_IN_ROLES.administrator, BUILT_IN_ROLES.cryptoOfficer, BUILT_IN_ROLES.cryptoUser];
    this.store.atomically(() => {
      for (const role of roles) {
        this.store.addRoleAssignment({ name: randomUUID(), scope: '/', principalId: adminObjectId, roleDefinitionName: role.name });
      }
      this.store.setMarker(INITIAL_ASSIGNMENTS_MARKER, manualActivation ? 'manual-activation' : 'default');
    });
    this.#invalidate();
  }

  /** Whether any of the principal's assignments covering `scope` grants `action`. */
  isAllowed(principalId: string, action: string, scope: string): boolean {
    if (this.#externalChanges.happened()) this.#invalidate();
    let assignments = this.#assignments.get(principalId);
    if (!assignments) {
      assignments = this.store.roleAssignmentsOf(principalId);
      this.#assignments.set(principalId, assignments);
    }
    for (const assignment of assignments) {
      if (!covers(assignment.scope, scope)) continue;
      const definition = this.#compiledDefinition(assignment.roleDefinitionName);
      if (definition && grants(definition, action)) return true;
    }
    return false;
  }

  #compiledDefinition(name: string): CompiledDefinition | undefined {
    let compiled = this.#compiled.get(name);
    if (compiled === undefined) {
      const definition = this.#definition(name);
      compiled = definition ? compile(definition) : null;
      this.#compiled.set(name, compiled);
    }
    return compiled ?? undefined;
  }

  /** Throws the service's AccessDenied unless the principal may perform `action` at `scope`. */
  authorize(principalId: string, action: string, scope: string): void {
    if (!this.isAllowed(principalId, action, scope)) {
      throw new HsmError('AccessDenied', `Not authorized to access ${action} on ${scope}`);
    }
  }

  #definition(name: string): RoleDefinitionRecord | undefined {
    return builtInRole(name) ?? this.store.customRoleDefinition(name);
  }

  listRoleDefinitions(filter: { roleName?: string } = {}): RoleDefinitionView[] {
    const all: RoleDefinitionView[] = [
      ...BUILT_IN_ROLE_LIST.map((r) => ({ ...r, type: 'AKVBuiltInRole' as const })),
      ...this.store.customRoleDefinitions().map((r) => ({ ...r, type: 'CustomRole' as const })),
    ];
    return filter.roleName === undefined ? all : all.filter((r) => r.roleName.toLowerCase() === filter.roleName?.toLowerCase());
  }

  getRoleDefinition(name: string): RoleDefinitionView {
    const builtIn = builtInRole(name);
    if (builtIn) return { ...builtIn, type: 'AKVBuiltInRole' };
    const custom = GUID.test(name) ? this.store.customRoleDefinition(name) : undefined;
    if (!custom) throw new HsmError('RoleDefinitionNotFound', 'Requested role definition not found');
    return { ...custom, type: 'CustomRole' };
  }

  setRoleDefinition(name: string, input: RoleDefinitionInput): RoleDefinitionView {
    const guid = requireGuid(name, 'Role definition name');
    if (builtInRole(guid)) throw new HsmError('BadParameter', 'Cannot re-use the name/GUID matching that of a built-in role. Please use a unique role ID.');
    if (input.roleName !== undefined && input.roleName !== null && (typeof input.roleName !== 'string' || input.roleName.length > MAX_STRING)) {
      throw new HsmError('BadParameter', `properties.roleName: must be a string of at most ${MAX_STRING} characters`);
    }
    if (input.description !== undefined && input.description !== null && (typeof input.description !== 'string' || input.description.length > 2048)) {
      throw new HsmError('BadParameter', 'properties.description: must be a string of at most 2048 characters');
    }
    if (input.type !== undefined && input.type !== 'CustomRole') {
      throw new HsmError('BadParameter', "properties.type: must be 'CustomRole'");
    }
    const assignableScopes = input.assignableScopes === undefined ? ['/'] : stringList(input.assignableScopes, 'properties.assignableScopes');
    if (assignableScopes.length === 0 || assignableScopes.some((s) => parseScope(s, 'properties.assignableScopes') !== '/')) {
      throw new HsmError('BadParameter', "properties.assignableScopes: must be [\"/\"]");
    }
    const record: RoleDefinitionRecord = {
      name: guid,
      roleName: typeof input.roleName === 'string' ? input.roleName : '',
      description: typeof input.description === 'string' ? input.description : '',
      permissions: parsePermissions(input.permissions),
      assignableScopes: ['/'],
    };
    const custom = this.store.customRoleDefinitions();
    if (!custom.some((d) => d.name.toLowerCase() === guid.toLowerCase()) && custom.length >= this.limits.roleDefinitions) {
      throw new HsmError('Forbidden', `This HSM has ${custom.length} custom role definitions, its limit (${this.limits.roleDefinitions}; raise it with --service-limit role-definitions=N)`);
    }
    this.store.putRoleDefinition(record);
    this.#invalidate();
    return { ...record, type: 'CustomRole' };
  }

  deleteRoleDefinition(name: string): RoleDefinitionView {
    if (builtInRole(name)) throw new HsmError('BadParameter', 'Cannot re-use the name/GUID matching that of a built-in role. Please use a unique role ID.');
    const definition = this.getRoleDefinition(name);
    const inUse = this.store.assignmentsOfRole(definition.name);
    if (inUse > 0) throw new HsmError('Conflict', `The role definition is used by ${inUse} role assignment(s); delete them first`);
    this.store.removeRoleDefinition(definition.name);
    this.#invalidate();
    return definition;
  }

  /**
   * Assignments related to `scope`: those at it, above it and below it; with atScope() only those
   * at it or above it.
   */
  listRoleAssignments(scope: string, filter: AssignmentFilter = {}): RoleAssignmentRecord[] {
    return this.store.roleAssignments().filter(
      (a) =>
        (covers(a.scope, scope) || (!filter.atScope && covers(scope, a.scope))) &&
        (filter.principalId === undefined || a.principalId.toLowerCase() === filter.principalId.toLowerCase()),
    );
  }

  /** The assignment of this name at this scope; an assignment is reached only through its own scope. */
  getRoleAssignment(name: string, scope: string): RoleAssignmentRecord {
    const assignment = GUID.test(name) ? this.store.roleAssignment(name) : undefined;
    if (!assignment || !sameScope(assignment.scope, scope)) throw new HsmError('RoleAssignmentNotFound', 'Requested role assignment not found');
    return assignment;
  }

  createRoleAssignment(name: string, scope: string, input: { roleDefinitionId?: unknown; principalId?: unknown }): RoleAssignmentRecord {
    const assignmentName = requireGuid(name, 'Role assignment name');
    if (typeof input.roleDefinitionId !== 'string') throw new HsmError('BadParameter', 'properties.roleDefinitionId: required, a role definition id');
    if (typeof input.principalId !== 'string') throw new HsmError('BadParameter', 'properties.principalId: required, the object id of a principal');
    const principalId = requireGuid(input.principalId, 'properties.principalId');
    const definitionGuid = roleDefinitionGuid(input.roleDefinitionId);
    if (!definitionGuid) throw new HsmError('BadParameter', 'properties.roleDefinitionId: must end in the GUID of a role definition');
    const definition = this.getRoleDefinition(definitionGuid);
    const record: RoleAssignmentRecord = { name: assignmentName, scope, principalId, roleDefinitionName: definition.name };
    const existing = this.store.roleAssignment(assignmentName);
    if (existing) {
      if (sameScope(existing.scope, scope) && existing.principalId === principalId && existing.roleDefinitionName === definition.name) return existing;
      throw new HsmError('Conflict', 'A role assignment with this name already exists with another principal, role or scope');
    }
    const duplicate = this.store
      .roleAssignmentsOf(principalId)
      .find((a) => sameScope(a.scope, scope) && a.roleDefinitionName === definition.name);
    if (duplicate) throw new HsmError('Conflict', `The role assignment already exists as ${duplicate.name}`);
    this.#assertRoomAt(scope);
    this.store.addRoleAssignment(record);
    this.#invalidate();
    return record;
  }

  /** The service's limits: so many assignments at the root scope, fewer at each key's. */
  #assertRoomAt(scope: string): void {
    const atKey = parseScope(scope, 'scope').startsWith('/keys/');
    const limit = atKey ? this.limits.keyAssignments : this.limits.rootAssignments;
    const here = this.store.roleAssignments().filter((a) => (atKey ? sameScope(a.scope, scope) : !parseScope(a.scope, 'scope').startsWith('/keys/'))).length;
    if (here >= limit) {
      const flag = atKey ? 'key-role-assignments' : 'role-assignments';
      throw new HsmError('Forbidden', `There are ${here} role assignments at ${atKey ? 'this key' : 'the HSM'}'s scope, the limit (${limit}; raise it with --service-limit ${flag}=N)`);
    }
  }

  deleteRoleAssignment(name: string, scope: string): RoleAssignmentRecord {
    const assignment = this.getRoleAssignment(name, scope);
    this.store.removeRoleAssignment(assignment.name);
    this.#invalidate();
    return assignment;
  }
}

// Access-control rows in the embedded SQLite database (tables made by sqlite-store's migrations).
import type Database from 'better-sqlite3';
import type { AccessStore, PrincipalRecord, RoleAssignmentRecord, RoleDefinitionRecord } from './access-store.js';

interface PrincipalRow {
  object_id: string;
  client_id: string;
  display_name: string;
  secret_hash: string;
  created: number;
}

interface AssignmentRow {
  name: string;
  scope: string;
  principal_id: string;
  role_definition_name: string;
}

const toPrincipal = (row: PrincipalRow): PrincipalRecord => ({
  objectId: row.object_id,
  clientId: row.client_id,
  displayName: row.display_name,
  secretHash: row.secret_hash,
  created: row.created,
});

const toAssignment = (row: AssignmentRow): RoleAssignmentRecord => ({
  name: row.name,
  scope: row.scope,
  principalId: row.principal_id,
  roleDefinitionName: row.role_definition_name,
});

const toDefinition = (row: { body: string }): RoleDefinitionRecord => JSON.parse(row.body) as RoleDefinitionRecord;

export class SqliteAccessStore implements AccessStore {
  #dataVersion: number | undefined;

  constructor(
    private readonly sql: (text: string) => Database.Statement,
    private readonly db: Database.Database,
  ) {}

  /**
   * Read once per turn of the event loop, not once per cache per request: every request of a
   * turn sees the same answer, and a commit by another process is seen from the next turn on
   * (it was not ordered with the requests of this one anyway).
   */
  changesByOthers(): number {
    if (this.#dataVersion === undefined) {
      this.#dataVersion = this.sql('PRAGMA data_version').pluck().get() as number;
      setImmediate(() => {
        this.#dataVersion = undefined;
      });
    }
    return this.#dataVersion;
  }

  atomically<T>(work: () => T): T {
    return this.db.transaction(work)();
  }

  principalByClientId(clientId: string): PrincipalRecord | undefined {
    const row = this.sql('SELECT * FROM principals WHERE client_id = ?').get(clientId) as PrincipalRow | undefined;
    return row && toPrincipal(row);
  }

  principals(): PrincipalRecord[] {
    return (this.sql('SELECT * FROM principals ORDER BY created, display_name').all() as PrincipalRow[]).map(toPrincipal);
  }

  addPrincipal(p: PrincipalRecord): void {
    this.sql('INSERT INTO principals (object_id, client_id, display_name, secret_hash, created) VALUES (?, ?, ?, ?, ?)').run(
      p.objectId,
      p.clientId,
      p.displayName,
      p.secretHash,
      p.created,
    );
  }

  setPrincipalSecretHash(objectId: string, secretHash: string): void {
    this.sql('UPDATE principals SET secret_hash = ? WHERE object_id = ?').run(secretHash, objectId);
  }

  removePrincipal(objectId: string): boolean {
    return this.sql('DELETE FROM principals WHERE object_id = ?').run(objectId).changes > 0;
  }

  customRoleDefinition(name: string): RoleDefinitionRecord | undefined {
    const row = this.sql('SELECT body FROM role_definitions WHERE name = ?').get(name) as { body: string } | undefined;
    return row && toDefinition(row);
  }

  customRoleDefinitions(): RoleDefinitionRecord[] {
    return (this.sql('SELECT body FROM role_definitions ORDER BY name').all() as Array<{ body: string }>).map(toDefinition);
  }

  putRoleDefinition(definition: RoleDefinitionRecord): void {
    this.sql('INSERT INTO role_definitions (name, body) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET body = excluded.body').run(
      definition.name,
      JSON.stringify(definition),
    );
  }

  removeRoleDefinition(name: string): boolean {
    return this.sql('DELETE FROM role_definitions WHERE name = ?').run(name).changes > 0;
  }

  roleAssignment(name: string): RoleAssignmentRecord | undefined {
    const row = this.sql('SELECT * FROM role_assignments WHERE name = ?').get(name) as AssignmentRow | undefined;
    return row && toAssignment(row);
  }

  roleAssignments(): RoleAssignmentRecord[] {
    return (this.sql('SELECT * FROM role_assignments ORDER BY rowid').all() as AssignmentRow[]).map(toAssignment);
  }

  roleAssignmentsOf(principalId: string): RoleAssignmentRecord[] {
    return (this.sql('SELECT * FROM role_assignments WHERE principal_id = ? ORDER BY rowid').all(principalId) as AssignmentRow[]).map(toAssignment);
  }

  assignmentsOfRole(roleDefinitionName: string): number {
    return (this.sql('SELECT COUNT(*) AS n FROM role_assignments WHERE role_definition_name = ?').get(roleDefinitionName) as { n: number }).n;
  }

  addRoleAssignment(a: RoleAssignmentRecord): void {
    this.sql('INSERT INTO role_assignments (name, scope, principal_id, role_definition_name) VALUES (?, ?, ?, ?)').run(
      a.name,
      a.scope,
      a.principalId,
      a.roleDefinitionName,
    );
  }

  removeRoleAssignment(name: string): boolean {
    return this.sql('DELETE FROM role_assignments WHERE name = ?').run(name).changes > 0;
  }

  marker(name: string): string | undefined {
    return (this.sql('SELECT value FROM markers WHERE name = ?').get(name) as { value: string } | undefined)?.value;
  }

  setMarker(name: string, value: string): void {
    this.sql('INSERT INTO markers (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value').run(name, value);
  }
}

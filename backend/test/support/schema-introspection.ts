/**
 * Schema drift checking: the tables, columns, keys, indexes and foreign keys that
 * `prisma/schema.prisma` implies on PostgreSQL, the same shape read back from a live
 * database (PGlite or PostgreSQL), and a readable diff of the two.
 *
 * The expected side comes from Prisma's own schema parser: the `prisma` CLI package ships
 * it as WebAssembly (prisma_schema_build_bg.wasm, the same module `prisma generate` uses to
 * build the DMMF). We load that module directly with a minimal wasm-bindgen shim, so no
 * native schema engine is needed. Prisma's migration rules (native types, default
 * constraint names, referential actions) are then applied to the DMMF here; they follow
 * https://www.prisma.io/docs/orm/prisma-schema/data-model/database-mapping.
 *
 * Not compared: column order, check constraints, operator classes, views, functions,
 * triggers, sequences' own settings and anything outside schema `public`.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RawConnection } from '../../src/infra/db/client.js';

// ---------------------------------------------------------------------------------------
// The shape both sides are reduced to
// ---------------------------------------------------------------------------------------

/** A column default: a normalised SQL expression, `ANY` (some default, value not checked). */
export const ANY_DEFAULT = '<any>';

export interface ColumnShape {
  /** PostgreSQL's `format_type()` spelling, e.g. `character varying(32)`. */
  type: string;
  nullable: boolean;
  default: string | null;
}

export interface IndexShape {
  unique: boolean;
  method: string;
  /** Key columns in order; `col DESC` for descending keys. */
  columns: string[];
  /** Partial index predicate; Prisma never creates one. */
  where: string | null;
}

export interface ForeignKeyShape {
  columns: string[];
  referencedTable: string;
  referencedColumns: string[];
  onDelete: ReferentialAction;
  onUpdate: ReferentialAction;
}

export type ReferentialAction = 'CASCADE' | 'RESTRICT' | 'NO ACTION' | 'SET NULL' | 'SET DEFAULT';

export interface TableShape {
  columns: Record<string, ColumnShape>;
  primaryKey: { name: string; columns: string[] } | null;
  /** Every index but the primary key's, by name (unique constraints are unique indexes). */
  indexes: Record<string, IndexShape>;
  foreignKeys: Record<string, ForeignKeyShape>;
}

export interface SchemaShape {
  tables: Record<string, TableShape>;
  /** Enum type name → labels in order. */
  enums: Record<string, string[]>;
  /** Database-only objects (DATABASE_ONLY) found in the database, left out of `tables`. */
  databaseOnly?: string[];
}

// ---------------------------------------------------------------------------------------
// Expected side: schema.prisma → DMMF (Prisma's wasm) → SchemaShape
// ---------------------------------------------------------------------------------------

export const SCHEMA_PATH = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../prisma/schema.prisma',
);

interface DmmfField {
  name: string;
  dbName?: string | null;
  kind: 'scalar' | 'object' | 'enum' | 'unsupported';
  isList: boolean;
  isRequired: boolean;
  isId: boolean;
  isUnique: boolean;
  hasDefaultValue: boolean;
  type: string;
  nativeType?: [string, string[]] | null;
  default?: unknown;
  relationName?: string;
  relationFromFields?: string[];
  relationToFields?: string[];
  relationOnDelete?: string;
  relationOnUpdate?: string;
}

interface DmmfModel {
  name: string;
  dbName: string | null;
  schema: string | null;
  fields: DmmfField[];
}

interface DmmfIndex {
  model: string;
  type: 'id' | 'unique' | 'normal' | 'fulltext';
  dbName?: string;
  algorithm?: string;
  fields: { name: string; sortOrder?: 'asc' | 'desc' }[];
}

interface DmmfEnum {
  name: string;
  dbName?: string | null;
  values: { name: string; dbName: string | null }[];
}

export interface Datamodel {
  models: DmmfModel[];
  enums: DmmfEnum[];
  indexes: DmmfIndex[];
}

// The backend's lib settings (ES2023 + @types/node 20) do not declare WebAssembly.
interface WasmTable {
  grow(delta: number): number;
  get(index: number): unknown;
  set(index: number, value: unknown): void;
}
interface WasmApi {
  Module: { new (bytes: Uint8Array): object; imports(module: object): { module: string; name: string }[] };
  Instance: new (module: object, imports: object) => { exports: unknown };
}
const { WebAssembly } = globalThis as unknown as { WebAssembly: WasmApi };

interface SchemaWasm {
  memory: { buffer: ArrayBuffer };
  __wbindgen_externrefs: WasmTable;
  __wbindgen_malloc(len: number, align: number): number;
  __wbindgen_free(ptr: number, len: number, align: number): void;
  __externref_table_dealloc(idx: number): void;
  __wbindgen_start(): void;
  get_dmmf(ptr: number, len: number): [number, number, number, number];
}

let schemaWasm: SchemaWasm | undefined;

/**
 * Instantiates prisma_schema_build_bg.wasm from the installed `prisma` package. The four
 * imports are wasm-bindgen's; they are matched by prefix because their suffix is a hash
 * that changes between Prisma releases.
 */
function loadSchemaWasm(): SchemaWasm {
  if (schemaWasm) return schemaWasm;
  const require = createRequire(import.meta.url);
  const file = path.join(
    path.dirname(require.resolve('prisma/package.json')),
    'build/prisma_schema_build_bg.wasm',
  );
  const module = new WebAssembly.Module(readFileSync(file));
  // Filled in once instantiated; the shims below only run after that.
  const instance: { wasm?: SchemaWasm } = {};
  const text = (ptr: number, len: number) =>
    new TextDecoder().decode(new Uint8Array(instance.wasm!.memory.buffer, ptr >>> 0, len >>> 0));
  const shims: [string, (...args: number[]) => unknown][] = [
    ['__wbg_Error_', (ptr, len) => new Error(text(ptr!, len!))],
    [
      '__wbg___wbindgen_throw_',
      (ptr, len) => {
        throw new Error(text(ptr!, len!));
      },
    ],
    // Rust panic message, reported before the panic itself surfaces as a trap.
    ['__wbg_set_message_', () => undefined],
    [
      '__wbindgen_init_externref_table',
      () => {
        const table = instance.wasm!.__wbindgen_externrefs;
        const offset = table.grow(4);
        table.set(0, undefined);
        table.set(offset + 0, undefined);
        table.set(offset + 1, null);
        table.set(offset + 2, true);
        table.set(offset + 3, false);
      },
    ],
  ];
  const imports: Record<string, Record<string, (...args: number[]) => unknown>> = {};
  for (const imp of WebAssembly.Module.imports(module)) {
    const shim = shims.find(([prefix]) => imp.name.startsWith(prefix));
    if (!shim) {
      throw new Error(
        `${file} wants an import this loader does not know (${imp.module}.${imp.name}); ` +
          'the Prisma version changed its wasm-bindgen glue: extend the shims in schema-introspection.ts.',
      );
    }
    (imports[imp.module] ??= {})[imp.name] = shim[1];
  }
  const wasm = new WebAssembly.Instance(module, imports).exports as unknown as SchemaWasm;
  instance.wasm = wasm;
  wasm.__wbindgen_start();
  schemaWasm = wasm;
  return wasm;
}

/** Prisma's DMMF datamodel for a schema text (throws Prisma's validation errors). */
export function getDatamodel(schemaText: string): Datamodel {
  const wasm = loadSchemaWasm();
  const input = new TextEncoder().encode(JSON.stringify({ prismaSchema: schemaText, noColor: true }));
  const ptr = wasm.__wbindgen_malloc(input.length, 1) >>> 0;
  new Uint8Array(wasm.memory.buffer, ptr, input.length).set(input);
  const [outPtr, outLen, errIdx, failed] = wasm.get_dmmf(ptr, input.length);
  if (failed) {
    const err = wasm.__wbindgen_externrefs.get(errIdx) as Error;
    wasm.__externref_table_dealloc(errIdx);
    throw new Error(`schema.prisma does not validate: ${err.message}`);
  }
  try {
    const json = new TextDecoder().decode(new Uint8Array(wasm.memory.buffer, outPtr, outLen));
    return (JSON.parse(json) as { datamodel: Datamodel }).datamodel;
  } finally {
    wasm.__wbindgen_free(outPtr, outLen, 1);
  }
}

const POSTGRES_MAX_IDENTIFIER = 63;

/** Prisma's default constraint/index name: `<table>_<columns>` cut to fit, then the suffix. */
export function defaultConstraintName(table: string, columns: string[], suffix: string): string {
  const base = [table, ...columns].join('_');
  const room = POSTGRES_MAX_IDENTIFIER - suffix.length - 1;
  return `${base.length > room ? base.slice(0, room) : base}_${suffix}`;
}

/** `format_type()` spelling of a Prisma scalar with an optional `@db.*` native type. */
export function postgresType(scalar: string, native: [string, string[]] | null | undefined): string {
  if (native) {
    const [name, args] = native;
    const n = args.length > 0 ? `(${args.join(',')})` : '';
    switch (name) {
      case 'Text':
        return 'text';
      case 'VarChar':
        return `character varying${n}`;
      case 'Char':
        return `character${n || '(1)'}`;
      case 'Uuid':
        return 'uuid';
      case 'Xml':
        return 'xml';
      case 'Inet':
        return 'inet';
      case 'Citext':
        return 'citext';
      case 'Bit':
        return `bit${n || '(1)'}`;
      case 'VarBit':
        return `bit varying${n}`;
      case 'Boolean':
        return 'boolean';
      case 'SmallInt':
        return 'smallint';
      case 'Integer':
        return 'integer';
      case 'BigInt':
        return 'bigint';
      case 'Oid':
        return 'oid';
      case 'Real':
        return 'real';
      case 'DoublePrecision':
        return 'double precision';
      case 'Decimal':
        return `numeric${n}`;
      case 'Money':
        return 'money';
      case 'Date':
        return 'date';
      case 'Timestamp':
        return `timestamp${n} without time zone`;
      case 'Timestamptz':
        return `timestamp${n} with time zone`;
      case 'Time':
        return `time${n} without time zone`;
      case 'Timetz':
        return `time${n} with time zone`;
      case 'Json':
        return 'json';
      case 'JsonB':
        return 'jsonb';
      case 'ByteA':
        return 'bytea';
      default:
        throw new Error(`No PostgreSQL spelling known for @db.${name}`);
    }
  }
  switch (scalar) {
    case 'String':
      return 'text';
    case 'Boolean':
      return 'boolean';
    case 'Int':
      return 'integer';
    case 'BigInt':
      return 'bigint';
    case 'Float':
      return 'double precision';
    case 'Decimal':
      return 'numeric(65,30)';
    case 'DateTime':
      return 'timestamp(3) without time zone';
    case 'Json':
      return 'jsonb';
    case 'Bytes':
      return 'bytea';
    default:
      throw new Error(`No PostgreSQL spelling known for Prisma type ${scalar}`);
  }
}

/** `quote_ident` as `format_type` applies it to type names. */
function quoteIdent(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

const ACTIONS: Record<string, ReferentialAction> = {
  Cascade: 'CASCADE',
  Restrict: 'RESTRICT',
  NoAction: 'NO ACTION',
  SetNull: 'SET NULL',
  SetDefault: 'SET DEFAULT',
};

/** `map:` names given to `@relation(...)`, which the DMMF leaves out: model → field → name. */
function relationMapNames(schemaText: string): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  const modelRe = /^model\s+(\w+)\s*\{([\s\S]*?)^\}/gm;
  for (const [, model, body] of schemaText.matchAll(modelRe)) {
    for (const line of body!.split('\n')) {
      const m = /^\s*(\w+)\s.*@relation\(([^)]*)\)/.exec(line.replace(/\/\/.*$/, ''));
      const map = m && /\bmap:\s*"([^"]+)"/.exec(m[2]!);
      if (m && map) {
        if (!out.has(model!)) out.set(model!, new Map());
        out.get(model!)!.set(m[1]!, map[1]!);
      }
    }
  }
  return out;
}

function expectedDefault(field: DmmfField, enums: DmmfEnum[]): string | null {
  if (!field.hasDefaultValue || field.default === undefined) return null;
  const value = field.default;
  if (Array.isArray(value)) return ANY_DEFAULT;
  if (value !== null && typeof value === 'object') {
    const fn = value as { name: string; args: unknown[] };
    switch (fn.name) {
      case 'now':
        return 'CURRENT_TIMESTAMP';
      case 'autoincrement':
        return 'autoincrement';
      case 'dbgenerated':
        return ANY_DEFAULT;
      // uuid(), cuid(), nanoid(), ulid() are filled in by Prisma Client, not the database.
      default:
        return null;
    }
  }
  if (field.kind === 'enum') {
    const e = enums.find((x) => x.name === field.type);
    const v = e?.values.find((x) => x.name === value);
    return v?.dbName ?? String(value);
  }
  return String(value);
}

/** The database schema that `prisma migrate` would create from this schema text. */
export function expectedShape(schemaText: string): SchemaShape {
  const dm = getDatamodel(schemaText);
  const relationMaps = relationMapNames(schemaText);
  const byName = new Map(dm.models.map((m) => [m.name, m]));
  const tableOf = (m: DmmfModel) => m.dbName ?? m.name;
  const columnOf = (m: DmmfModel, fieldName: string) => {
    const f = m.fields.find((x) => x.name === fieldName);
    if (!f) throw new Error(`${m.name}.${fieldName} not found`);
    return f.dbName ?? f.name;
  };
  const enumType = (name: string) => {
    const e = dm.enums.find((x) => x.name === name)!;
    return quoteIdent(e.dbName ?? e.name);
  };

  const shape: SchemaShape = { tables: {}, enums: {} };
  for (const e of dm.enums) shape.enums[e.dbName ?? e.name] = e.values.map((v) => v.dbName ?? v.name);

  for (const model of dm.models) {
    if (model.schema) throw new Error(`${model.name}: multiSchema is not supported by this check`);
    const table: TableShape = { columns: {}, primaryKey: null, indexes: {}, foreignKeys: {} };
    shape.tables[tableOf(model)] = table;
    for (const f of model.fields) {
      if (f.kind === 'object') continue;
      if (f.kind === 'unsupported') throw new Error(`${model.name}.${f.name}: Unsupported() type`);
      let type = f.kind === 'enum' ? enumType(f.type) : postgresType(f.type, f.nativeType);
      if (f.isList) type += '[]';
      table.columns[f.dbName ?? f.name] = {
        type,
        // Prisma creates scalar lists without NOT NULL.
        nullable: f.isList || !f.isRequired,
        default: expectedDefault(f, dm.enums),
      };
    }
    for (const f of model.fields) {
      if (f.kind !== 'object' || !f.relationFromFields?.length) continue;
      const target = byName.get(f.type)!;
      const columns = f.relationFromFields.map((n) => columnOf(model, n));
      const optional = f.relationFromFields.some((n) => !model.fields.find((x) => x.name === n)!.isRequired);
      const name =
        relationMaps.get(model.name)?.get(f.name) ?? defaultConstraintName(tableOf(model), columns, 'fkey');
      table.foreignKeys[name] = {
        columns,
        referencedTable: tableOf(target),
        referencedColumns: (f.relationToFields ?? []).map((n) => columnOf(target, n)),
        onDelete: ACTIONS[f.relationOnDelete ?? (optional ? 'SetNull' : 'Restrict')]!,
        onUpdate: ACTIONS[f.relationOnUpdate ?? 'Cascade']!,
      };
    }
  }

  for (const index of dm.indexes) {
    const model = byName.get(index.model)!;
    const tableName = tableOf(model);
    const table = shape.tables[tableName]!;
    const columns = index.fields.map((f) => columnOf(model, f.name));
    const keys = index.fields.map((f, i) => `${columns[i]}${f.sortOrder === 'desc' ? ' DESC' : ''}`);
    if (index.type === 'id') {
      table.primaryKey = { name: index.dbName ?? defaultConstraintName(tableName, [], 'pkey'), columns };
      continue;
    }
    if (index.type === 'fulltext') throw new Error(`${model.name}: fulltext indexes are MySQL-only`);
    const unique = index.type === 'unique';
    const name = index.dbName ?? defaultConstraintName(tableName, columns, unique ? 'key' : 'idx');
    table.indexes[name] = {
      unique,
      method: (index.algorithm ?? 'btree').toLowerCase(),
      columns: keys,
      where: null,
    };
  }

  addImplicitManyToManyTables(dm, shape, byName);
  return shape;
}

/** Implicit m-n relations get a join table `_<RelationName>` with columns A and B. */
function addImplicitManyToManyTables(
  dm: Datamodel,
  shape: SchemaShape,
  byName: Map<string, DmmfModel>,
): void {
  const seen = new Set<string>();
  for (const model of dm.models) {
    for (const f of model.fields) {
      if (f.kind !== 'object' || !f.isList || !f.relationName || seen.has(f.relationName)) continue;
      const other = byName.get(f.type)!;
      const back = other.fields.find(
        (x) => x.relationName === f.relationName && (other !== model || x !== f),
      );
      if (!back?.isList) continue;
      seen.add(f.relationName);
      const [a, b] = [model, other].sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
      const table = `_${f.relationName}`;
      const side = (m: DmmfModel) => {
        const id = m.fields.filter((x) => x.isId);
        if (id.length !== 1) throw new Error(`${m.name}: implicit m-n needs a single-field @id`);
        return { column: id[0]!.dbName ?? id[0]!.name, type: postgresType(id[0]!.type, id[0]!.nativeType) };
      };
      const sa = side(a!);
      const sb = side(b!);
      shape.tables[table] = {
        columns: {
          A: { type: sa.type, nullable: false, default: null },
          B: { type: sb.type, nullable: false, default: null },
        },
        primaryKey: { name: `${table}_AB_pkey`, columns: ['A', 'B'] },
        indexes: { [`${table}_B_index`]: { unique: false, method: 'btree', columns: ['B'], where: null } },
        foreignKeys: {
          [`${table}_A_fkey`]: {
            columns: ['A'],
            referencedTable: a!.dbName ?? a!.name,
            referencedColumns: [sa.column],
            onDelete: 'CASCADE',
            onUpdate: 'CASCADE',
          },
          [`${table}_B_fkey`]: {
            columns: ['B'],
            referencedTable: b!.dbName ?? b!.name,
            referencedColumns: [sb.column],
            onDelete: 'CASCADE',
            onUpdate: 'CASCADE',
          },
        },
      };
    }
  }
}

// ---------------------------------------------------------------------------------------
// Actual side: pg_catalog → SchemaShape
// ---------------------------------------------------------------------------------------

/** Tables that belong to the tooling, not the data model. */
const IGNORED_TABLES = ['_prisma_migrations'];

/**
 * Objects only the migrations declare, because Prisma cannot express them: the search
 * columns (stored generated columns, one of type tsvector) and their GIN indexes (one with
 * an operator class), and the media worker's, the media analysis's and the sweep's partial indexes. `introspect` leaves them out of the comparison and lists those it
 * found in `databaseOnly`, so the drift test can require every one of them to exist.
 */
export const DATABASE_ONLY = [
  'column message_search.search_vector',
  'index message_search.message_search_search_text_trgm_idx',
  'index message_search.message_search_search_vector_idx',
  'index messages.messages_edited_at_idx',
  'index messages.messages_reply_to_id_idx',
  'index search_words.search_words_word_trgm_idx',
  'column media.search_name',
  'index media.media_attached_idx',
  'index media.media_search_name_trgm_idx',
  'index media.media_deleted_idx',
  'index media.media_pending_idx',
  'index media.media_unattached_idx',
  'index media_analysis.media_analysis_pending_idx',
  'index media_analysis.media_analysis_search_text_trgm_idx',
];

const PG_ACTIONS: Record<string, ReferentialAction> = {
  a: 'NO ACTION',
  r: 'RESTRICT',
  c: 'CASCADE',
  n: 'SET NULL',
  d: 'SET DEFAULT',
};

function unquote(ident: string): string {
  return /^".*"$/.test(ident) ? ident.slice(1, -1).replace(/""/g, '"') : ident;
}

/** Reduces a `pg_get_expr` default to the spelling `expectedDefault` produces. */
export function normaliseDefault(expr: string | null): string | null {
  if (expr === null) return null;
  let e = expr.trim();
  if (/^nextval\(/i.test(e)) return 'autoincrement';
  if (/^(now\(\)|current_timestamp)$/i.test(e)) return 'CURRENT_TIMESTAMP';
  const literal = /^'((?:[^']|'')*)'(::[\w\s."[\]()]+)?$/.exec(e);
  if (literal) return literal[1]!.replace(/''/g, "'");
  while (/^\(.*\)$/.test(e)) e = e.slice(1, -1);
  return e;
}

/** Reads the schema `public` of a live database (PGlite or PostgreSQL). */
export async function introspect(conn: RawConnection): Promise<SchemaShape> {
  const shape: SchemaShape = { tables: {}, enums: {} };
  const ignored = IGNORED_TABLES;

  const tables = await conn.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT (c.relname = ANY($1::text[]))
     ORDER BY 1`,
    [ignored],
  );
  for (const t of tables) {
    shape.tables[t.name] = { columns: {}, primaryKey: null, indexes: {}, foreignKeys: {} };
  }

  const columns = await conn.query<{
    table: string;
    column: string;
    type: string;
    not_null: boolean;
    default: string | null;
  }>(
    `SELECT c.relname AS table, a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type,
            a.attnotnull AS not_null, pg_get_expr(d.adbin, d.adrelid) AS default
     FROM pg_attribute a
     JOIN pg_class c ON c.oid = a.attrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
       AND NOT (c.relname = ANY($1::text[]))
     ORDER BY c.relname, a.attnum`,
    [ignored],
  );
  const databaseOnly: string[] = [];
  for (const c of columns) {
    if (DATABASE_ONLY.includes(`column ${c.table}.${c.column}`)) {
      databaseOnly.push(`column ${c.table}.${c.column}`);
      continue;
    }
    shape.tables[c.table]!.columns[c.column] = {
      type: c.type,
      nullable: !c.not_null,
      default: normaliseDefault(c.default),
    };
  }

  const indexes = await conn.query<{
    name: string;
    table: string;
    unique: boolean;
    primary: boolean;
    method: string;
    columns: string;
    where: string | null;
  }>(
    `SELECT ic.relname AS name, tc.relname AS table, i.indisunique AS unique,
            i.indisprimary AS primary, am.amname AS method,
            pg_get_expr(i.indpred, i.indrelid) AS where,
            (SELECT json_agg(pg_get_indexdef(i.indexrelid, k, true)
                             || CASE WHEN (i.indoption[k - 1] & 1) = 1 THEN ' DESC' ELSE '' END
                             ORDER BY k)
             FROM generate_series(1, i.indnkeyatts) AS k)::text AS columns
     FROM pg_index i
     JOIN pg_class ic ON ic.oid = i.indexrelid
     JOIN pg_class tc ON tc.oid = i.indrelid
     JOIN pg_namespace n ON n.oid = tc.relnamespace
     JOIN pg_am am ON am.oid = ic.relam
     WHERE n.nspname = 'public' AND NOT (tc.relname = ANY($1::text[]))
     ORDER BY 1`,
    [ignored],
  );
  for (const i of indexes) {
    const table = shape.tables[i.table];
    if (!table) continue; // an index on a view or another relation kind
    if (DATABASE_ONLY.includes(`index ${i.table}.${i.name}`)) {
      databaseOnly.push(`index ${i.table}.${i.name}`);
      continue;
    }
    const keys = (JSON.parse(i.columns) as string[]).map((k) => {
      const desc = k.endsWith(' DESC');
      const col = unquote(desc ? k.slice(0, -5) : k);
      return desc ? `${col} DESC` : col;
    });
    if (i.primary) {
      table.primaryKey = { name: i.name, columns: keys };
    } else {
      table.indexes[i.name] = { unique: i.unique, method: i.method, columns: keys, where: i.where };
    }
  }

  const fks = await conn.query<{
    name: string;
    table: string;
    ref_table: string;
    columns: string;
    ref_columns: string;
    on_delete: string;
    on_update: string;
  }>(
    `SELECT con.conname AS name, tc.relname AS table, rc.relname AS ref_table,
            con.confdeltype::text AS on_delete, con.confupdtype::text AS on_update,
            (SELECT json_agg(a.attname ORDER BY k.ord) FROM unnest(con.conkey) WITH ORDINALITY AS k(num, ord)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num)::text AS columns,
            (SELECT json_agg(a.attname ORDER BY k.ord) FROM unnest(con.confkey) WITH ORDINALITY AS k(num, ord)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num)::text AS ref_columns
     FROM pg_constraint con
     JOIN pg_class tc ON tc.oid = con.conrelid
     JOIN pg_namespace n ON n.oid = tc.relnamespace
     JOIN pg_class rc ON rc.oid = con.confrelid
     WHERE n.nspname = 'public' AND con.contype = 'f' AND NOT (tc.relname = ANY($1::text[]))
     ORDER BY 1`,
    [ignored],
  );
  for (const fk of fks) {
    const table = shape.tables[fk.table];
    if (!table) continue;
    table.foreignKeys[fk.name] = {
      columns: JSON.parse(fk.columns) as string[],
      referencedTable: fk.ref_table,
      referencedColumns: JSON.parse(fk.ref_columns) as string[],
      onDelete: PG_ACTIONS[fk.on_delete]!,
      onUpdate: PG_ACTIONS[fk.on_update]!,
    };
  }

  const enums = await conn.query<{ name: string; labels: string }>(
    `SELECT t.typname AS name, json_agg(e.enumlabel ORDER BY e.enumsortorder)::text AS labels
     FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace
     WHERE n.nspname = 'public' GROUP BY t.typname ORDER BY 1`,
  );
  for (const e of enums) shape.enums[e.name] = JSON.parse(e.labels) as string[];

  shape.databaseOnly = databaseOnly.sort();
  return shape;
}

// ---------------------------------------------------------------------------------------
// Diff
// ---------------------------------------------------------------------------------------

function describeColumn(c: ColumnShape): string {
  const value = c.default === '' ? "''" : c.default;
  return `${c.type} ${c.nullable ? 'NULL' : 'NOT NULL'}${value === null ? '' : ` DEFAULT ${value}`}`;
}

function columnsEqual(expected: ColumnShape, actual: ColumnShape): boolean {
  const defaults =
    expected.default === ANY_DEFAULT ? actual.default !== null : expected.default === actual.default;
  return expected.type === actual.type && expected.nullable === actual.nullable && defaults;
}

/** One line per object, keyed by what it is, for a set comparison. */
function entries(shape: SchemaShape) {
  const out = new Map<string, { text: string; column?: ColumnShape }>();
  for (const [name, labels] of Object.entries(shape.enums)) {
    out.set(`enum ${name}`, { text: `(${labels.join(', ')})` });
  }
  for (const [tableName, t] of Object.entries(shape.tables)) {
    out.set(`table ${tableName}`, { text: 'exists' });
    for (const [name, c] of Object.entries(t.columns)) {
      out.set(`column ${tableName}.${name}`, { text: describeColumn(c), column: c });
    }
    out.set(`primary key of ${tableName}`, {
      text: t.primaryKey ? `${t.primaryKey.name} (${t.primaryKey.columns.join(', ')})` : 'none',
    });
    for (const [name, i] of Object.entries(t.indexes)) {
      const where = i.where ? ` WHERE ${i.where}` : '';
      out.set(`index ${tableName}.${name}`, {
        text: `${i.unique ? 'UNIQUE ' : ''}${i.method} (${i.columns.join(', ')})${where}`,
      });
    }
    for (const [name, fk] of Object.entries(t.foreignKeys)) {
      out.set(`foreign key ${tableName}.${name}`, {
        text:
          `(${fk.columns.join(', ')}) REFERENCES ${fk.referencedTable} (${fk.referencedColumns.join(', ')}) ` +
          `ON DELETE ${fk.onDelete} ON UPDATE ${fk.onUpdate}`,
      });
    }
  }
  return out;
}

/**
 * Human-readable differences between what schema.prisma implies and what the database
 * has; empty when they agree.
 */
export function diffShapes(expected: SchemaShape, actual: SchemaShape): string[] {
  const want = entries(expected);
  const have = entries(actual);
  const lines: string[] = [];
  for (const [key, w] of want) {
    const h = have.get(key);
    if (!h) {
      lines.push(`missing from the database: ${key}: ${w.text}`);
      continue;
    }
    const same = w.column && h.column ? columnsEqual(w.column, h.column) : w.text === h.text;
    if (!same) lines.push(`differs: ${key}: schema.prisma says ${w.text}; the database has ${h.text}`);
  }
  for (const [key, h] of have) {
    if (!want.has(key)) lines.push(`not in schema.prisma: ${key}: ${h.text}`);
  }
  return lines.sort();
}

/**
 * The part of kustomize that k8s/ uses, to render an overlay as `kubectl kustomize` does
 * (kubectl is not installed here): `resources` (files, possibly of several documents, and
 * directories holding a kustomization), `namespace`, `labels` (with `includeTemplates`;
 * selectors are left alone, as with `includeSelectors: false`), `images`, `replicas`, and
 * `patches` given as JSON 6902 operations with a `target` of kind and name. Anything else in
 * a kustomization is an error, so a manifest never depends on a feature this renderer
 * silently ignores.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments, parse as parseYaml } from 'yaml';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: any;
}

interface Kustomization {
  apiVersion?: string;
  kind?: string;
  namespace?: string;
  resources?: string[];
  labels?: { pairs: Record<string, string>; includeSelectors?: boolean; includeTemplates?: boolean }[];
  images?: { name: string; newName?: string; newTag?: string; digest?: string }[];
  replicas?: { name: string; count: number }[];
  patches?: { target: { kind?: string; name?: string }; patch?: string; path?: string }[];
}

const SUPPORTED = new Set([
  'apiVersion',
  'kind',
  'namespace',
  'resources',
  'labels',
  'images',
  'replicas',
  'patches',
]);

/** Kinds that live outside namespaces (the ones k8s/ could hold). */
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'PersistentVolume',
  'StorageClass',
  'PriorityClass',
  'IngressClass',
]);

export function readObjects(file: string): K8sObject[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((doc) => {
      if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0]!.message}`);
      return doc.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
}

/** Renders the kustomization in `dir`. */
export function kustomize(dir: string): K8sObject[] {
  const k = parseYaml(readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8')) as Kustomization;
  for (const key of Object.keys(k))
    if (!SUPPORTED.has(key))
      throw new Error(`${dir}/kustomization.yaml: "${key}" is not supported by this renderer`);
  let objects: K8sObject[] = [];
  for (const resource of k.resources ?? []) {
    const full = path.resolve(dir, resource);
    objects.push(...(statSync(full).isDirectory() ? kustomize(full) : readObjects(full)));
  }
  objects = structuredClone(objects);
  const seen = new Set<string>();
  for (const o of objects) {
    const id = `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    if (seen.has(id)) throw new Error(`${dir}: ${id} is defined twice`);
    seen.add(id);
  }
  for (const patch of k.patches ?? []) applyPatch(dir, objects, patch);
  if (k.namespace) {
    for (const o of objects) if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = k.namespace;
  }
  for (const { pairs, includeSelectors, includeTemplates } of k.labels ?? []) {
    if (includeSelectors) throw new Error(`${dir}: labels with includeSelectors are not supported`);
    for (const o of objects) {
      o.metadata.labels = { ...o.metadata.labels, ...pairs };
      const template = podTemplateOf(o);
      if (includeTemplates && template) {
        template.metadata ??= {};
        template.metadata.labels = { ...template.metadata.labels, ...pairs };
      }
    }
  }
  for (const image of k.images ?? []) {
    for (const o of objects) {
      for (const c of containersOf(o)) {
        const [name, tag] = splitImage(c.image as string);
        if (name !== image.name) continue;
        const newName = image.newName ?? name;
        c.image = image.digest
          ? `${newName}@${image.digest}`
          : `${newName}${image.newTag ? `:${image.newTag}` : tag ? `:${tag}` : ''}`;
      }
    }
  }
  for (const { name, count } of k.replicas ?? []) {
    const target = objects.find((o) => o.metadata.name === name && o.spec && 'replicas' in o.spec);
    if (!target) throw new Error(`${dir}: replicas for unknown ${name}`);
    target.spec.replicas = count;
  }
  return objects;
}

function splitImage(image: string): [string, string | undefined] {
  const at = image.indexOf('@');
  if (at >= 0) return [image.slice(0, at), undefined];
  const colon = image.lastIndexOf(':');
  return colon > image.lastIndexOf('/')
    ? [image.slice(0, colon), image.slice(colon + 1)]
    : [image, undefined];
}

/** The pod template of a workload (Deployment, StatefulSet, DaemonSet, Job), or the Pod spec holder. */
export function podTemplateOf(o: K8sObject): { metadata?: any; spec: any } | undefined {
  if (['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job'].includes(o.kind))
    return o.spec?.template;
  if (o.kind === 'CronJob') return o.spec?.jobTemplate?.spec?.template;
  if (o.kind === 'Pod') return { metadata: o.metadata, spec: o.spec };
  return undefined;
}

/** Every container of an object's pods, init containers included. */
export function containersOf(o: K8sObject): any[] {
  const spec = podTemplateOf(o)?.spec;
  return spec ? [...(spec.initContainers ?? []), ...(spec.containers ?? [])] : [];
}

function applyPatch(dir: string, objects: K8sObject[], patch: NonNullable<Kustomization['patches']>[number]) {
  const text = patch.patch ?? readFileSync(path.resolve(dir, patch.path!), 'utf8');
  const ops = parseYaml(text) as { op: string; path: string; value?: unknown }[];
  if (!Array.isArray(ops)) throw new Error(`${dir}: only JSON 6902 patches are supported`);
  const targets = objects.filter(
    (o) =>
      (!patch.target.kind || o.kind === patch.target.kind) &&
      (!patch.target.name || o.metadata.name === patch.target.name),
  );
  if (targets.length === 0)
    throw new Error(`${dir}: patch target ${JSON.stringify(patch.target)} matches nothing`);
  for (const o of targets) for (const op of ops) applyOperation(o, op);
}

function applyOperation(
  doc: any,
  { op, path: pointer, value }: { op: string; path: string; value?: unknown },
) {
  const parts = pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  const last = parts.pop()!;
  let parent = doc;
  for (const part of parts) {
    parent = Array.isArray(parent) ? parent[Number(part)] : parent?.[part];
    if (parent === undefined) throw new Error(`patch path ${pointer} does not exist`);
  }
  const exists = Array.isArray(parent) ? Number(last) < parent.length : last in parent;
  switch (op) {
    case 'add':
      if (Array.isArray(parent)) parent.splice(last === '-' ? parent.length : Number(last), 0, value);
      else parent[last] = value;
      return;
    case 'replace':
      if (!exists) throw new Error(`patch: replace of missing ${pointer}`);
      if (Array.isArray(parent)) parent[Number(last)] = value;
      else parent[last] = value;
      return;
    case 'remove':
      if (!exists) throw new Error(`patch: remove of missing ${pointer}`);
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete parent[last];
      return;
    default:
      throw new Error(`patch operation ${op} is not supported`);
  }
}

/**
 * k8s/, read as a cluster operator reads it: each overlay rendered (kustomize's subset in
 * test/support/kustomize.ts), every object validated against the Kubernetes schemas
 * (kubernetes-models), and the invariants the issue asks for checked on every pod: probes,
 * no `latest` or untagged images, requests and limits, nothing privileged, non-root,
 * read-only root filesystem (the namespace enforces Pod Security "restricted"). Then what
 * ties the objects together: selectors, ports, references to ConfigMaps and Secrets, the
 * drain timings, the migration Job before the rollout, the settings against the config
 * schema, and what each overlay must and must not hold.
 */
import { beforeAll, describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/infra/config.js';
import { containersOf, kustomize, podTemplateOf, readObjects, type K8sObject } from '../support/kustomize.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const k8s = path.join(repoRoot, 'k8s');
const secretTemplate = readObjects(path.join(k8s, 'base/secret.template.yaml'));

const overlays = {
  dev: kustomize(path.join(k8s, 'overlays/dev')),
  prod: kustomize(path.join(k8s, 'overlays/prod')),
};

const find = (objects: K8sObject[], kind: string, name: string) => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind}/${name}`);
  return o;
};
const workloads = (objects: K8sObject[]) => objects.filter((o) => podTemplateOf(o));
const matches = (selector: Record<string, string>, labels: Record<string, string> = {}) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

/** The variables Parley's config schema knows (backend/src/infra/config.ts). */
function configVariables(): Set<string> {
  const source = readFileSync(path.join(repoRoot, 'backend/src/infra/config.ts'), 'utf8');
  const start = source.indexOf('const envSchema = z');
  const block = source.slice(start, source.indexOf('.superRefine', start));
  return new Set([...block.matchAll(/^\s{4}([A-Z][A-Z0-9_]+):/gm)].map((m) => m[1]!));
}

/** kubernetes-models' class for an apiVersion and kind (e.g. apps/v1 Deployment). */
async function modelOf(o: K8sObject): Promise<new (data: unknown) => { validate(): void }> {
  const mod = (await import(`kubernetes-models/${o.apiVersion}/${o.kind}`)) as Record<string, unknown>;
  const model = (mod[o.kind] ?? mod.default) as new (data: unknown) => { validate(): void };
  if (typeof model !== 'function') throw new Error(`no model for ${o.apiVersion} ${o.kind}`);
  return model;
}

describe.each(Object.entries(overlays))('overlay %s', (name, objects) => {
  test('renders, and every object is valid against the Kubernetes schemas', async () => {
    expect(objects.length).toBeGreaterThan(10);
    const problems: string[] = [];
    for (const o of objects) {
      try {
        const Model = await modelOf(o);
        new Model(o).validate();
      } catch (err) {
        problems.push(`${o.kind}/${o.metadata.name}: ${(err as Error).message}`);
      }
    }
    expect(problems).toEqual([]);
  });

  test('everything lives in the parley namespace, which enforces Pod Security "restricted"', () => {
    const ns = find(objects, 'Namespace', 'parley');
    expect(ns.metadata.labels).toMatchObject({ 'pod-security.kubernetes.io/enforce': 'restricted' });
    for (const o of objects.filter((x) => x.kind !== 'Namespace'))
      expect(`${o.kind}/${o.metadata.namespace}`).toBe(`${o.kind}/parley`);
    for (const o of objects) expect(o.metadata.labels?.['app.kubernetes.io/part-of']).toBe('parley');
  });

  test('every image is pinned: a version tag or a digest, never latest', () => {
    for (const o of objects)
      for (const c of containersOf(o)) {
        expect({ where: `${o.kind}/${o.metadata.name}/${c.name}`, image: c.image }).toEqual({
          where: `${o.kind}/${o.metadata.name}/${c.name}`,
          image: expect.stringMatching(/(:[^:/@]*\d[^:/@]*|@sha256:[0-9a-f]{64})$/),
        });
        expect(c.image).not.toMatch(/:latest$/);
      }
  });

  test('every container has CPU and memory requests and limits', () => {
    for (const o of objects)
      for (const c of containersOf(o)) {
        const r = c.resources ?? {};
        expect({ where: `${o.kind}/${o.metadata.name}/${c.name}`, r }).toEqual({
          where: `${o.kind}/${o.metadata.name}/${c.name}`,
          r: {
            requests: { cpu: expect.anything(), memory: expect.anything() },
            limits: { cpu: expect.anything(), memory: expect.anything() },
          },
        });
      }
  });

  test('no pod is privileged; all run as non-root with a read-only root filesystem', () => {
    for (const o of workloads(objects)) {
      const spec = podTemplateOf(o)!.spec;
      const where = `${o.kind}/${o.metadata.name}`;
      expect({
        where,
        hostNetwork: spec.hostNetwork ?? false,
        hostPID: spec.hostPID ?? false,
        hostIPC: spec.hostIPC ?? false,
      }).toEqual({
        where,
        hostNetwork: false,
        hostPID: false,
        hostIPC: false,
      });
      expect({ where, seccomp: spec.securityContext?.seccompProfile?.type }).toEqual({
        where,
        seccomp: 'RuntimeDefault',
      });
      for (const volume of spec.volumes ?? [])
        expect({ where, hostPath: volume.hostPath }).toEqual({ where, hostPath: undefined });
      expect(spec.automountServiceAccountToken).toBe(false);
      for (const c of containersOf(o)) {
        const sc = c.securityContext ?? {};
        const nonRoot = sc.runAsNonRoot ?? spec.securityContext?.runAsNonRoot;
        const user = sc.runAsUser ?? spec.securityContext?.runAsUser;
        expect({ where: `${where}/${c.name}`, nonRoot, rootUser: user === 0 }).toEqual({
          where: `${where}/${c.name}`,
          nonRoot: true,
          rootUser: false,
        });
        expect({
          where: `${where}/${c.name}`,
          privileged: sc.privileged ?? false,
          escalation: sc.allowPrivilegeEscalation,
          readOnlyRoot: sc.readOnlyRootFilesystem,
          drop: sc.capabilities?.drop,
          add: sc.capabilities?.add,
        }).toEqual({
          where: `${where}/${c.name}`,
          privileged: false,
          escalation: false,
          readOnlyRoot: true,
          drop: ['ALL'],
          add: undefined,
        });
      }
    }
  });

  test('long-running containers have readiness and liveness probes', () => {
    for (const o of objects.filter((x) => x.kind === 'Deployment' || x.kind === 'StatefulSet'))
      for (const c of podTemplateOf(o)!.spec.containers) {
        expect({
          where: `${o.kind}/${o.metadata.name}/${c.name}`,
          readiness: Boolean(c.readinessProbe),
          liveness: Boolean(c.livenessProbe),
        }).toEqual({
          where: `${o.kind}/${o.metadata.name}/${c.name}`,
          readiness: true,
          liveness: true,
        });
      }
  });

  test('the Parley Deployment: probes on /health/ready and /health, drain-matched shutdown, topology spread', () => {
    const deployment = find(objects, 'Deployment', 'parley');
    const spec = podTemplateOf(deployment)!.spec;
    const server = spec.containers.find((c: any) => c.name === 'parley');
    const port = server.ports[0];
    expect(port).toMatchObject({ name: 'http', containerPort: 3000 });
    expect(server.startupProbe.httpGet).toEqual({ path: '/health/ready', port: 'http' });
    expect(server.readinessProbe.httpGet).toEqual({ path: '/health/ready', port: 'http' });
    expect(server.livenessProbe.httpGet).toEqual({ path: '/health', port: 'http' });
    // SIGTERM after the preStop pause; the process exits within SHUTDOWN_TIMEOUT_MS (drain included).
    const config = find(objects, 'ConfigMap', 'parley-config').data as Record<string, string>;
    const pause = Number(server.lifecycle.preStop.exec.command[1]);
    expect(server.lifecycle.preStop.exec.command[0]).toBe('sleep');
    expect(pause).toBeGreaterThan(0);
    expect(Number(config.SHUTDOWN_DRAIN_MS)).toBeLessThan(Number(config.SHUTDOWN_TIMEOUT_MS));
    expect(spec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(
      pause * 1000 + Number(config.SHUTDOWN_TIMEOUT_MS),
    );
    expect(Number(config.PORT)).toBe(port.containerPort);
    // Rolling updates never drop below the wanted count.
    expect(deployment.spec.strategy.rollingUpdate).toEqual({ maxSurge: 1, maxUnavailable: 0 });
    const podLabels = podTemplateOf(deployment)!.metadata.labels;
    expect(matches(deployment.spec.selector.matchLabels, podLabels)).toBe(true);
    const keys = spec.topologySpreadConstraints.map((t: any) => t.topologyKey);
    expect(keys).toEqual(['topology.kubernetes.io/zone', 'kubernetes.io/hostname']);
    for (const t of spec.topologySpreadConstraints)
      expect(matches(t.labelSelector.matchLabels, podLabels)).toBe(true);
    // The HPA owns the replica count.
    expect(deployment.spec.replicas).toBeUndefined();
  });

  test('migrations run in a Job before the rollout: pods wait for them in an init container', () => {
    const job = find(objects, 'Job', 'parley-migrate');
    const jobContainer = podTemplateOf(job)!.spec.containers[0];
    expect(jobContainer.command).toEqual(['node', 'backend/dist/admin.js', 'migrate']);
    expect(podTemplateOf(job)!.spec.restartPolicy).toBe('Never');
    const init = podTemplateOf(find(objects, 'Deployment', 'parley'))!.spec.initContainers;
    expect(init.map((c: any) => c.command.slice(0, 4))).toEqual([
      ['node', 'backend/dist/admin.js', 'migrate', '--wait'],
    ]);
    // The same image and settings as the server.
    const server = podTemplateOf(find(objects, 'Deployment', 'parley'))!.spec.containers[0];
    expect(jobContainer.image).toBe(server.image);
    expect(init[0].image).toBe(server.image);
    expect(jobContainer.envFrom).toEqual(server.envFrom);
  });

  test('Service, Ingress (WebSocket timeouts), PDB and HPA fit the Deployment', () => {
    const deployment = find(objects, 'Deployment', 'parley');
    const podLabels = podTemplateOf(deployment)!.metadata.labels;
    const service = find(objects, 'Service', 'parley');
    expect(matches(service.spec.selector, podLabels)).toBe(true);
    expect(service.spec.sessionAffinity).toBe('None');
    expect(service.spec.ports[0].targetPort).toBe('http');
    const ingress = find(objects, 'Ingress', 'parley');
    expect(ingress.spec.rules[0].http.paths[0].backend.service).toEqual({
      name: 'parley',
      port: { name: 'http' },
    });
    const annotations = ingress.metadata.annotations!;
    // Sockets are quiet between heartbeats (WS_HEARTBEAT_MS, 30 s): far longer than that.
    expect(Number(annotations['nginx.ingress.kubernetes.io/proxy-read-timeout'])).toBeGreaterThanOrEqual(
      3600,
    );
    expect(Number(annotations['nginx.ingress.kubernetes.io/proxy-send-timeout'])).toBeGreaterThanOrEqual(
      3600,
    );
    expect(Object.keys(annotations).filter((k) => /affinity|upstream-hash/.test(k))).toEqual([]);
    const pdb = find(objects, 'PodDisruptionBudget', 'parley');
    expect(matches(pdb.spec.selector.matchLabels, podLabels)).toBe(true);
    const hpa = find(objects, 'HorizontalPodAutoscaler', 'parley');
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'parley' });
    expect(hpa.spec.minReplicas).toBeGreaterThan(pdb.spec.maxUnavailable - 1);
  });

  test('NetworkPolicies: deny by default, Parley reachable on its port from the Ingress controller and Prometheus', () => {
    const deny = find(objects, 'NetworkPolicy', 'default-deny-ingress');
    expect(deny.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress'] });
    const allow = find(objects, 'NetworkPolicy', 'parley-ingress');
    const podLabels = podTemplateOf(find(objects, 'Deployment', 'parley'))!.metadata.labels;
    expect(matches(allow.spec.podSelector.matchLabels, podLabels)).toBe(true);
    expect(allow.spec.ingress[0].ports).toEqual([{ port: 3000, protocol: 'TCP' }]);
    const egress = find(objects, 'NetworkPolicy', 'parley-egress');
    const ports = egress.spec.egress.flatMap((rule: any) => rule.ports.map((p: any) => p.port));
    expect(ports).toEqual(expect.arrayContaining([53, 5432, 6379, 443]));
    // The migration Job is covered by the egress policy too.
    expect(
      matches(
        egress.spec.podSelector.matchLabels,
        podTemplateOf(find(objects, 'Job', 'parley-migrate'))!.metadata.labels,
      ),
    ).toBe(true);
  });

  test('every ConfigMap and Secret a pod refers to exists, with the keys it reads', () => {
    // prod's Secret is the operator's, made from the template.
    const all = name === 'prod' ? [...objects, ...secretTemplate] : objects;
    const data = (kind: string, n: string) => {
      const o = find(all, kind, n);
      return { ...o.data, ...o.stringData } as Record<string, string>;
    };
    for (const o of workloads(objects))
      for (const c of containersOf(o)) {
        for (const from of c.envFrom ?? []) {
          if (from.configMapRef) data('ConfigMap', from.configMapRef.name);
          if (from.secretRef) data('Secret', from.secretRef.name);
        }
        for (const env of c.env ?? []) {
          const ref = env.valueFrom?.secretKeyRef ?? env.valueFrom?.configMapKeyRef;
          if (!ref) continue;
          const kind = env.valueFrom.secretKeyRef ? 'Secret' : 'ConfigMap';
          expect({
            where: `${o.metadata.name}/${c.name}/${env.name}`,
            present: ref.key in data(kind, ref.name),
          }).toEqual({
            where: `${o.metadata.name}/${c.name}/${env.name}`,
            present: true,
          });
        }
      }
  });

  test("Parley's settings (ConfigMap and Secret) are all known to the config schema and valid", () => {
    const known = configVariables();
    const configMap = find(objects, 'ConfigMap', 'parley-config').data as Record<string, string>;
    let secret: Record<string, string>;
    if (name === 'prod') {
      // The template's placeholders, filled as an operator would.
      const filled: Record<string, string> = {
        JWT_SECRET: 'x'.repeat(48),
        DATABASE_URL: 'postgresql://parley:pw@db.internal:5432/parley?sslmode=require',
        REDIS_URL: 'rediss://:pw@redis.internal:6379',
        S3_ENDPOINT: 'https://s3.eu-west-1.amazonaws.com',
        S3_ACCESS_KEY: 'AKIA0000',
        S3_SECRET_KEY: 'secret',
      };
      const template = secretTemplate[0]!.stringData as Record<string, string>;
      expect(Object.keys(template).sort()).toEqual(Object.keys(filled).sort());
      for (const value of Object.values(template)) expect(value).toMatch(/<[^>]+>/);
      secret = filled;
    } else secret = find(objects, 'Secret', 'parley-secrets').stringData as Record<string, string>;
    for (const key of [...Object.keys(configMap), ...Object.keys(secret)])
      expect({ key, known: known.has(key) }).toEqual({ key, known: true });
    const config = loadConfig({ ...configMap, ...secret }, '/app');
    expect(config.env).toBe('production');
    expect(config.database.kind).toBe('postgres');
    expect(config.redisUrl).toBeDefined();
    expect(config.media.storage.kind).toBe('s3');
    expect(config.trustProxy).toBe(true);
  });
});

describe('what each overlay holds', () => {
  test('dev runs PostgreSQL, Redis and MinIO as StatefulSets, reachable from Parley only', () => {
    const objects = overlays.dev;
    const sets = objects.filter((o) => o.kind === 'StatefulSet').map((o) => o.metadata.name);
    expect(sets.sort()).toEqual(['minio', 'postgres', 'redis']);
    for (const set of sets) {
      const o = find(objects, 'StatefulSet', set);
      expect(o.spec.volumeClaimTemplates).toHaveLength(1);
      const service = find(objects, 'Service', set);
      expect(o.spec.serviceName).toBe(service.metadata.name);
      expect(matches(service.spec.selector, podTemplateOf(o)!.metadata.labels)).toBe(true);
    }
    // The Secret's addresses are these services.
    const secret = find(objects, 'Secret', 'parley-secrets').stringData;
    expect(new URL(secret.DATABASE_URL).hostname).toBe('postgres');
    expect(new URL(secret.REDIS_URL).hostname).toBe('redis');
    expect(new URL(secret.S3_ENDPOINT).hostname).toBe('minio');
    const services = find(objects, 'Secret', 'dev-services').stringData;
    expect(new URL(secret.DATABASE_URL).password).toBe(services.POSTGRES_PASSWORD);
    expect(secret.S3_SECRET_KEY).toBe(services.MINIO_ROOT_PASSWORD);
    const policy = find(objects, 'NetworkPolicy', 'dev-services-from-parley');
    expect(policy.spec.ingress[0].from).toEqual([
      { podSelector: { matchLabels: { 'app.kubernetes.io/name': 'parley' } } },
    ]);
  });

  test('prod holds no StatefulSet and no Secret: managed services, and the Secret is the operator’s', () => {
    const objects = overlays.prod;
    expect(objects.filter((o) => o.kind === 'StatefulSet' || o.kind === 'Secret')).toEqual([]);
    const image = podTemplateOf(find(objects, 'Deployment', 'parley'))!.spec.containers[0].image;
    expect(image).toBe('registry.example.com/parley:0.1.0');
    expect(find(objects, 'HorizontalPodAutoscaler', 'parley').spec.minReplicas).toBe(3);
    expect(find(objects, 'Ingress', 'parley').spec.tls).toEqual([
      { hosts: ['chat.example.com'], secretName: 'parley-tls' },
    ]);
    const spread = podTemplateOf(find(objects, 'Deployment', 'parley'))!.spec.topologySpreadConstraints;
    expect(spread[1]).toMatchObject({
      topologyKey: 'kubernetes.io/hostname',
      whenUnsatisfiable: 'DoNotSchedule',
    });
  });

  test('the validator is not lenient: a mistyped field or a missing one is refused', async () => {
    const deployment = structuredClone(find(overlays.prod, 'Deployment', 'parley'));
    const Model = await modelOf(deployment);
    podTemplateOf(deployment)!.spec.containers[0].ports[0].containerPort = '3000';
    expect(() => new Model(deployment).validate()).toThrow(/containerPort must be integer/);
    const hpa = structuredClone(find(overlays.prod, 'HorizontalPodAutoscaler', 'parley'));
    delete hpa.spec.scaleTargetRef;
    const Hpa = await modelOf(hpa);
    expect(() => new Hpa(hpa).validate()).toThrow(/scaleTargetRef/);
  });

  test('the Secret template is a valid Secret holding placeholders only', async () => {
    expect(secretTemplate).toHaveLength(1);
    const [secret] = secretTemplate;
    const Model = await modelOf(secret!);
    new Model(secret).validate();
    expect(secret!.metadata).toMatchObject({ name: 'parley-secrets', namespace: 'parley' });
    // The base does not apply it: no placeholder ever reaches a cluster by accident.
    const base = readFileSync(path.join(k8s, 'base/kustomization.yaml'), 'utf8');
    expect(base).not.toMatch(/^\s*-\s*secret\.template\.yaml/m);
  });
});

describe('the renderer', () => {
  let objects: K8sObject[];
  beforeAll(() => {
    objects = overlays.prod;
  });
  test('applies namespace, labels to pod templates, images and JSON patches as kustomize does', () => {
    const deployment = find(objects, 'Deployment', 'parley');
    expect(podTemplateOf(deployment)!.metadata.labels).toMatchObject({
      'app.kubernetes.io/part-of': 'parley',
      'app.kubernetes.io/instance': 'parley-prod',
    });
    // Selectors untouched (includeSelectors: false): a label change never orphans pods.
    expect(deployment.spec.selector.matchLabels).toEqual({
      'app.kubernetes.io/name': 'parley',
      'app.kubernetes.io/component': 'server',
    });
    expect(find(objects, 'Ingress', 'parley').spec.rules[0].host).toBe('chat.example.com');
    expect(find(overlays.dev, 'ConfigMap', 'parley-config').data.COOKIE_SECURE).toBe('false');
  });
});

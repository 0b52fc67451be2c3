// The S3 half of scripts/backup.sh and scripts/restore.sh: copies every object of Parley's
// bucket to a directory and back, with the S3 settings the server reads (S3_ENDPOINT,
// S3_BUCKET, S3_ACCESS_KEY, S3_SECRET_KEY, S3_REGION, S3_PATH_STYLE).
//
//   node scripts/lib/objects.mjs download <dir>   every object to <dir>/<key>, types in <dir>.json
//   node scripts/lib/objects.mjs upload <dir>     into the bucket, which must be empty (made if missing)
//   node scripts/lib/objects.mjs verify <SHA256SUMS>   every objects/<key> line against the bucket
//   node scripts/lib/objects.mjs count            objects in the bucket
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Client } from 'minio';

const env = process.env;
function client() {
  if (!env.S3_ENDPOINT || !env.S3_ACCESS_KEY || !env.S3_SECRET_KEY)
    throw new Error('S3_ENDPOINT, S3_ACCESS_KEY and S3_SECRET_KEY must be set');
  const url = new URL(env.S3_ENDPOINT);
  const useSSL = url.protocol === 'https:';
  return new Client({
    endPoint: url.hostname,
    port: url.port ? Number(url.port) : useSSL ? 443 : 80,
    useSSL,
    accessKey: env.S3_ACCESS_KEY,
    secretKey: env.S3_SECRET_KEY,
    region: env.S3_REGION || 'us-east-1',
    pathStyle: !['false', '0', 'no'].includes(env.S3_PATH_STYLE ?? 'true'),
  });
}
const bucket = env.S3_BUCKET || 'parley-media';

async function keys(s3) {
  const out = [];
  const stream = s3.listObjectsV2(bucket, '', true);
  for await (const item of stream) if (item.name) out.push(item.name);
  return out.sort();
}

async function sha256(stream) {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk);
  return hash.digest('hex');
}

async function filesUnder(dir, prefix = '') {
  const out = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await filesUnder(path.join(dir, entry.name), rel)));
    else if (entry.isFile()) out.push(rel);
  }
  return out.sort();
}

const [command, arg] = process.argv.slice(2);
const s3 = client();
switch (command) {
  case 'download': {
    if (!arg) throw new Error('usage: objects.mjs download <dir>');
    await mkdir(arg, { recursive: true });
    const types = {};
    for (const key of await keys(s3)) {
      const target = path.join(arg, ...key.split('/'));
      await mkdir(path.dirname(target), { recursive: true });
      await s3.fGetObject(bucket, key, target);
      const stat = await s3.statObject(bucket, key);
      types[key] = stat.metaData?.['content-type'] ?? 'application/octet-stream';
    }
    await writeFile(`${arg}.json`, `${JSON.stringify({ bucket, contentTypes: types }, null, 2)}\n`);
    console.log(`${Object.keys(types).length} object(s) from s3://${bucket}`);
    break;
  }
  case 'upload': {
    if (!arg) throw new Error('usage: objects.mjs upload <dir>');
    if (!(await s3.bucketExists(bucket))) await s3.makeBucket(bucket, env.S3_REGION || 'us-east-1');
    if ((await keys(s3)).length > 0) {
      console.error(`s3://${bucket} is not empty: restore into an empty bucket`);
      process.exit(3);
    }
    const meta = JSON.parse(await readFile(`${arg}.json`, 'utf8').catch(() => '{"contentTypes":{}}'));
    const files = await filesUnder(arg).catch(() => []);
    for (const key of files) {
      const type = meta.contentTypes?.[key] ?? 'application/octet-stream';
      await s3.fPutObject(bucket, key, path.join(arg, ...key.split('/')), { 'Content-Type': type });
    }
    console.log(`${files.length} object(s) to s3://${bucket}`);
    break;
  }
  case 'verify': {
    if (!arg) throw new Error('usage: objects.mjs verify <SHA256SUMS>');
    const expected = new Map();
    for (const line of (await readFile(arg, 'utf8')).split('\n')) {
      const m = /^([0-9a-f]{64}) [ *]\.?\/?objects\/(.+)$/.exec(line);
      if (m) expected.set(m[2], m[1]);
    }
    const present = await keys(s3);
    const problems = [];
    for (const key of present) if (!expected.has(key)) problems.push(`unexpected object ${key}`);
    for (const [key, hash] of expected) {
      if (!present.includes(key)) {
        problems.push(`missing object ${key}`);
        continue;
      }
      const got = await sha256(await s3.getObject(bucket, key));
      if (got !== hash) problems.push(`${key}: sha256 ${got}, expected ${hash}`);
    }
    if (problems.length) {
      console.error(problems.join('\n'));
      process.exit(1);
    }
    console.log(`${expected.size} object(s) in s3://${bucket} match the backup`);
    break;
  }
  case 'count':
    console.log((await keys(s3)).length);
    break;
  default:
    console.error('usage: objects.mjs download <dir> | upload <dir> | verify <SHA256SUMS> | count');
    process.exit(2);
}

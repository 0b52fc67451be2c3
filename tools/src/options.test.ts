import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  checkTarget,
  helpText,
  isLoopbackHost,
  MAX_URLS,
  optionRows,
  parseFraction,
  parseOptions,
  parseUrls,
  UsageError,
} from './options.js';

const parse = (...args: string[]) => {
  const r = parseOptions(args);
  if (r.help) throw new Error('unexpected --help');
  return r;
};

describe('options', () => {
  it('has defaults for everything and parses the issue example', () => {
    const { options } = parse(
      '--url',
      'http://127.0.0.1:3000',
      '--users',
      '1000',
      '--rate',
      '50',
      '--duration',
      '60',
    );
    expect(options).toMatchObject({
      url: 'http://127.0.0.1:3000',
      users: 1000,
      rate: 50,
      duration: 60,
      devices: 1,
      ramp: false,
      maxP99Ms: undefined,
      minDelivery: undefined,
    });
    expect(Number.isInteger(options.seed)).toBe(true);
  });

  it('--ramp alone runs only the ramp; with --duration it runs both', () => {
    expect(parse('--ramp').options.duration).toBe(0);
    expect(parse('--ramp', '--duration', '20').options.duration).toBe(20);
  });

  it('reads thresholds and the delivery share as a fraction or a percentage', () => {
    const { options } = parse('--max-p99-ms', '500', '--max-avg-ms', '100', '--min-delivery', '99.9%');
    expect(options.maxP99Ms).toBe(500);
    expect(options.maxAvgMs).toBe(100);
    expect(options.minDelivery).toBeCloseTo(0.999, 9);
    expect(parseFraction('--min-delivery', '0.95')).toBe(0.95);
    expect(() => parseFraction('--min-delivery', '99.9')).toThrow(/between 0 and 1/);
  });

  it('refuses out-of-range and unknown options with a usage error', () => {
    expect(() => parse('--users', '1')).toThrow(UsageError);
    expect(() => parse('--users', '2.5')).toThrow(/whole number/);
    expect(() => parse('--rate', 'fast')).toThrow(/must be a number/);
    expect(() => parse('--duration', '99999')).toThrow(/at most 3600/);
    expect(() => parse('--bogus')).toThrow(UsageError);
    expect(() => parse('--duration', '0')).toThrow(/nothing to do/);
    expect(() => parse('--duration', '10', '--ramp-up', '20')).toThrow(/ramp-up/);
  });

  it('warns when the rate per user is above the server default send limit', () => {
    expect(parse('--users', '10', '--rate', '100').warnings.join()).toMatch(/RATE_LIMITED/);
    expect(parse('--users', '1000', '--rate', '50').warnings).toEqual([]);
  });

  it('allows only loopback targets unless --allow-remote', () => {
    for (const host of [
      '127.0.0.1',
      '127.1.2.3',
      'localhost',
      'api.localhost',
      '[::1]',
      '[::ffff:127.0.0.1]',
    ]) {
      expect(() => checkTarget(`http://${host}:3000`, false)).not.toThrow();
    }
    for (const host of ['10.0.0.1', 'example.com', '[::2]', '0.0.0.0', '127.0.0.1.nip.io', '192.168.1.127']) {
      expect(() => checkTarget(`http://${host}:3000`, false)).toThrow(/only loopback/);
      expect(() => checkTarget(`http://${host}:3000`, true)).not.toThrow();
    }
    expect(() => checkTarget('ftp://127.0.0.1', false)).toThrow(/http/);
    expect(() => parse('--url', 'http://example.com')).toThrow(/--allow-remote/);
    expect(parse('--url', 'http://example.com', '--allow-remote').options.allowRemote).toBe(true);
    expect(isLoopbackHost('::ffff:7f00:1')).toBe(true);
    expect(isLoopbackHost('::ffff:a00:1')).toBe(false);
  });

  it('takes one server by default and several when --url is repeated or comma-separated', () => {
    expect(parse().options).toMatchObject({
      url: 'http://127.0.0.1:3000',
      urls: ['http://127.0.0.1:3000'],
    });
    const repeated = parse('--url', 'http://127.0.0.1:3001', '--url', 'http://127.0.0.1:3002');
    expect(repeated.options.urls).toEqual(['http://127.0.0.1:3001', 'http://127.0.0.1:3002']);
    // The first one is where the REST preparation goes.
    expect(repeated.options.url).toBe('http://127.0.0.1:3001');
    const mixed = parse(
      '--url',
      'http://127.0.0.1:3001, http://localhost:3002',
      '--url',
      'https://[::1]:3003/',
    );
    expect(mixed.options.urls).toEqual([
      'http://127.0.0.1:3001',
      'http://localhost:3002',
      'https://[::1]:3003/',
    ]);
    expect(mixed.options.url).toBe('http://127.0.0.1:3001');
  });

  it('refuses a bad --url among several with a usage error naming it', () => {
    expect(() => parse('--url', 'http://127.0.0.1:3001', '--url', 'nonsense')).toThrow(
      /--url is not a URL: "nonsense"/,
    );
    expect(() => parse('--url', 'http://127.0.0.1:3001,ws://127.0.0.1:3002')).toThrow(
      /http:\/\/ or https:\/\/.*"ws:\/\/127\.0\.0\.1:3002"/,
    );
    expect(() => parse('--url', 'http://127.0.0.1:3001,,http://127.0.0.1:3002')).toThrow(/empty entry/);
    expect(() => parse('--url', '')).toThrow(/empty entry/);
    expect(() => parse('--url', 'http://127.0.0.1:3001', '--url', 'http://127.0.0.1:3001/')).toThrow(
      /same server/,
    );
    // The loopback rule holds for each of them, not only the first.
    expect(() => parse('--url', 'http://127.0.0.1:3001', '--url', 'http://192.0.2.1:3002')).toThrow(
      /refusing to load-test 192\.0\.2\.1/,
    );
    expect(
      parse('--url', 'http://127.0.0.1:3001', '--url', 'http://192.0.2.1:3002', '--allow-remote').options
        .urls,
    ).toHaveLength(2);
    for (const bad of [['nonsense'], ['http://127.0.0.1:1,']]) {
      expect(() => parseUrls(bad)).toThrow(UsageError);
    }
    const many = Array.from({ length: MAX_URLS + 1 }, (_, i) => `http://127.0.0.1:${3000 + i}`);
    expect(parseUrls(many.slice(0, MAX_URLS))).toHaveLength(MAX_URLS);
    expect(() => parseUrls(many)).toThrow(new RegExp(`at most ${MAX_URLS}`));
  });

  it('reconnects, retries and checks by default; --no-reconnect keeps the old behaviour', () => {
    expect(parse().options).toMatchObject({
      reconnect: true,
      maxSendTries: 10,
      sendTimeout: 60,
      verify: 'devices',
      maxMissing: 0,
    });
    expect(parse('--no-reconnect').options).toMatchObject({
      reconnect: false,
      verify: 'off',
      maxMissing: undefined,
    });
    // Asked for explicitly, they hold without reconnecting too.
    expect(parse('--no-reconnect', '--verify', 'users', '--max-missing', '3').options).toMatchObject({
      reconnect: false,
      verify: 'users',
      maxMissing: 3,
    });
    expect(parse('--max-send-tries', '1', '--send-timeout', '5').options).toMatchObject({
      maxSendTries: 1,
      sendTimeout: 5,
    });
    expect(() => parse('--verify', 'all')).toThrow(/--verify must be one of devices, users, off/);
    expect(() => parse('--max-send-tries', '0')).toThrow(/at least 1/);
    expect(() => parse('--max-missing=-1')).toThrow(/at least 0/);
    expect(() => parse('--reconnect')).toThrow(UsageError);
    expect(helpText()).toMatch(/--no-reconnect {2,}do not reconnect/);
  });

  it('answers --help without running', () => {
    expect(parseOptions(['--help'])).toEqual({ help: true });
  });

  it('documents every option in --help and in tools/README.md', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const help = helpText();
    for (const { flag } of optionRows()) {
      expect(readme).toContain(`| \`${flag}\` |`);
      expect(help).toContain(flag);
    }
  });
});

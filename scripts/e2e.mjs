#!/usr/bin/env node
/**
 * End-to-end test: the real server (built SPA + API on a fresh database) driven through
 * headless Chromium. Run from the repo root: `node scripts/e2e.mjs` (or `npm run test:e2e`).
 *
 * Env: CHROMIUM_PATH (default /usr/bin/chromium); DATABASE_URL (optional: a fresh database
 * `parley_e2e_<random>` is created on that server for the run and dropped afterwards;
 * otherwise the server uses embedded PGlite in a temporary DATA_DIR).
 * Screenshots go to artifacts/e2e/*.png.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launchChromium } from './lib/chromium.mjs';
import { createCleanups, freePort, freshDatabase, root, startServer } from './lib/run-server.mjs';

const artifacts = path.join(root, 'artifacts', 'e2e');
// Safety nets for a busy machine, not expectations of speed: a step's waits end as soon as
// the page shows what they wait for, and the budget only stops a run that hangs.
const RUN_BUDGET_MS = 480_000;
const STEP_TIMEOUT_MS = 60_000;
const SERVER_START_TIMEOUT_MS = 180_000;

const { cleanups, cleanup } = createCleanups();

function buildFrontendIfMissing() {
  if (existsSync(path.join(root, 'frontend', 'dist', 'index.html'))) return;
  console.log('building the frontend (frontend/dist is missing)…');
  const res = spawnSync('npm', ['run', 'build', '-w', '@parley/frontend'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (res.status !== 0) throw new Error('frontend build failed');
}

/** Type and pixel size of a PNG or JPEG, from its bytes (null for anything else). */
function imageSize(bytes) {
  if (bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) {
    return { type: 'png', width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
  }
  if (bytes[0] === 0xff && bytes[1] === 0xd8) {
    // Walk the markers to the first start-of-frame (SOF0…SOF15 but DHT, JPG and DAC).
    for (let i = 2; i + 9 < bytes.length;) {
      if (bytes[i] !== 0xff) return null;
      const marker = bytes[i + 1];
      if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
        return { type: 'jpeg', width: bytes.readUInt16BE(i + 7), height: bytes.readUInt16BE(i + 5) };
      }
      i += 2 + bytes.readUInt16BE(i + 2);
    }
  }
  return null;
}

const serverEnv = {
  NODE_ENV: 'test',
  LOG_LEVEL: 'warn',
  // The deep-link step seeds 220 messages through the API in a few seconds.
  SEND_RATE_PER_SECOND: '1000',
  // Direct chats with strangers start as requests (accepted, or blocked, below).
  DIRECT_CHAT_POLICY: 'requests',
  // The word list for typo tolerance takes in new messages within a second (the search step
  // looks for a word sent a little earlier with a letter wrong).
  SEARCH_WORDS_MS: '1000',
  SEARCH_WORDS_LAG_MS: '500',
  // The OCR step waits for a screenshot to be read: at the lowest priority the analysis gets
  // about 1 % of a core on a busy machine, so it runs at the normal one, as in the backend tests.
  MEDIA_ANALYSIS_NICE: '0',
};

async function main() {
  const started = Date.now();
  const budget = setTimeout(() => {
    console.error(`e2e: over the ${RUN_BUDGET_MS / 1000} s budget; aborting`);
    void cleanup().finally(() => process.exit(1));
  }, RUN_BUDGET_MS);
  budget.unref();

  mkdirSync(artifacts, { recursive: true });
  for (const file of readdirSync(artifacts)) if (file.endsWith('.png')) rmSync(path.join(artifacts, file));
  buildFrontendIfMissing();

  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'parley-e2e-'));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const databaseUrl = await freshDatabase('parley_e2e', cleanups);
  const port = await freePort();
  const { base, output } = await startServer({
    port,
    dataDir,
    databaseUrl,
    env: serverEnv,
    cleanups,
    startTimeoutMs: SERVER_START_TIMEOUT_MS,
  });
  console.log(
    `server up at ${base} (${databaseUrl ? 'PostgreSQL' : 'PGlite'}) in ${Date.now() - started} ms`,
  );

  const browser = await launchChromium([
    // A fake microphone (a beeping tone) that needs no prompt: the voice note step records it.
    '--use-fake-device-for-media-stream',
    '--use-fake-ui-for-media-stream',
  ]);
  cleanups.push(() => browser.close());

  const newPage = async () => {
    const context = await browser.newContext({
      baseURL: base,
      viewport: { width: 1200, height: 800 },
    });
    context.setDefaultTimeout(STEP_TIMEOUT_MS);
    const page = await context.newPage();
    const problems = [];
    page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
    page.on('console', (msg) => msg.type() === 'error' && problems.push(`console: ${msg.text()}`));
    return { context, page, problems };
  };

  const id = randomBytes(4).toString('hex');
  const account = {
    username: `e2e_${id}`,
    email: `e2e_${id}@example.test`,
    displayName: `E2E Tester ${id}`,
    password: `pw-${randomBytes(8).toString('hex')}`,
  };
  const renamed = `Renamed ${id}`;

  const { page, problems } = await newPage();
  let passed = 0;
  let failed = 0;
  let shot = 0;
  const screenshot = async (p, name) => {
    shot += 1;
    await p.screenshot({
      path: path.join(artifacts, `${String(shot).padStart(2, '0')}-${name}.png`),
      fullPage: true,
    });
  };
  const step = async (name, fn) => {
    if (failed > 0) {
      console.log(`- skipped: ${name}`);
      failed += 1;
      return;
    }
    const t0 = Date.now();
    try {
      await fn();
      passed += 1;
      console.log(`✓ ${name} (${Date.now() - t0} ms)`);
    } catch (err) {
      failed += 1;
      console.log(
        `✗ ${name}\n  ${(err instanceof Error ? (err.stack ?? err.message) : String(err)).split('\n').slice(0, 6).join('\n  ')}`,
      );
      await screenshot(page, `failed-${name.replace(/\W+/g, '-')}`).catch(() => {});
    }
  };
  const topbarName = () => page.getByTestId('current-user-name');
  const fillRegister = async (p, a) => {
    await p.getByLabel('Username', { exact: true }).fill(a.username);
    await p.getByLabel('Email').fill(a.email);
    await p.getByLabel('Display name').fill(a.displayName);
    await p.getByLabel('Password').fill(a.password);
    await p.getByRole('button', { name: 'Create account' }).click();
  };

  await step('register a new user and land on the home page', async () => {
    await page.goto('/register');
    await fillRegister(page, account);
    await page.getByTestId('home-page').waitFor();
    assert.equal(new URL(page.url()).pathname, '/');
    assert.equal(await topbarName().textContent(), account.displayName);
    assert.match(await page.getByTestId('profile-summary').innerText(), new RegExp(`@${account.username}`));
    assert.match(
      await page.getByTestId('conversations-empty').innerText(),
      /conversations will appear here/i,
    );
    await screenshot(page, 'home-after-register');
  });

  await step('registering the same username again shows a field error', async () => {
    const second = await newPage();
    try {
      await second.page.goto('/register');
      await fillRegister(second.page, { ...account, email: `other_${id}@example.test` });
      const error = second.page.getByTestId('username-error');
      await error.waitFor();
      assert.match(await error.innerText(), /taken/i);
      assert.equal(new URL(second.page.url()).pathname, '/register');
      await screenshot(second.page, 'register-username-taken');
    } finally {
      await second.context.close();
    }
  });

  await step('log out', async () => {
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByTestId('login-form').waitFor();
    assert.equal(new URL(page.url()).pathname, '/login');
    // The refresh cookie is gone: a reload stays signed out.
    await page.reload();
    await page.getByTestId('login-form').waitFor();
    await screenshot(page, 'login-after-logout');
  });

  await step('sign in with the email address', async () => {
    // The code comes by route: the sign-in page (a fresh load) has none of the chat app's.
    const loaded = async () => {
      const files = await page.evaluate(() =>
        performance
          .getEntriesByType('resource')
          .map((e) => new URL(e.name).pathname.split('/').pop())
          .filter((f) => f.endsWith('.js')),
      );
      return (name) => files.some((f) => f.startsWith(`${name}-`));
    };
    let has = await loaded();
    assert.ok(has('LoginPage'), 'the sign-in page chunk loaded');
    for (const name of ['AppLayout', 'ChatsLayout', 'RegisterPage', 'ContactsPage'])
      assert.ok(!has(name), `${name} not loaded on the sign-in page`);

    await page.getByLabel('Username or email').fill(account.email);
    await page.getByLabel('Password').fill(account.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('home-page').waitFor();
    assert.equal(await topbarName().textContent(), account.displayName);
    // Signed in: the chat screen's code, and no page or dialog not opened yet.
    has = await loaded();
    assert.ok(has('ChatsLayout'), 'the chat screen chunk loaded');
    for (const name of ['ContactsPage', 'ProfilePage', 'SessionsPage', 'NewChatDialog', 'Modal'])
      assert.ok(!has(name), `${name} not loaded before it is opened`);
  });

  await step('edit display name, status and availability', async () => {
    await page.getByRole('link', { name: 'Profile', exact: true }).click();
    await page.getByTestId('profile-form').waitFor();
    await page.getByLabel('Display name').fill(renamed);
    await page.getByLabel('Status').fill('Testing Parley end to end');
    await page.getByText('Busy', { exact: true }).click();
    await page.getByRole('button', { name: 'Save profile' }).click();
    await page.getByTestId('profile-success').waitFor();
    assert.equal(await topbarName().textContent(), renamed);
    assert.equal(
      await page
        .getByTestId('current-user')
        .getByTestId('availability-dot')
        .getAttribute('data-availability'),
      'busy',
    );
    await screenshot(page, 'profile-saved');
  });

  await step('reload keeps the session and the saved profile', async () => {
    await page.reload();
    await page.getByTestId('profile-form').waitFor();
    assert.equal(await topbarName().textContent(), renamed);
    assert.equal(await page.getByLabel('Status').inputValue(), 'Testing Parley end to end');
    assert.equal(await page.getByRole('radio', { name: 'Busy' }).isChecked(), true);
    // No token in web storage: only settings without secrets (the notification prompt's
    // "Not now", whether this browser knows the session hint).
    const stored = await page.evaluate(() => [...Object.keys(localStorage), ...Object.keys(sessionStorage)]);
    const settings = ['parley.sessionHintKnown', 'parley.notificationPrompt.snoozedAt'];
    assert.deepEqual(
      stored.filter((k) => !settings.includes(k)),
      [],
      'nothing but settings may be kept in web storage',
    );
    const cookies = await page.evaluate(() => document.cookie);
    assert.equal(
      cookies,
      'parley_session=1',
      'the refresh cookie is HttpOnly; only the session hint is readable',
    );
  });

  await step('a deep link to a chat that does not exist opens inside the app and says so', async () => {
    await page.goto(`/chats/${randomUUID()}/messages/${randomUUID()}`);
    await page.getByTestId('chat-not-found').waitFor();
    assert.equal(await topbarName().textContent(), renamed);
    await screenshot(page, 'deep-link-unknown-chat');
  });

  // A second browser is a second device: it opens a deep link while signed out.
  const other = await newPage();
  cleanups.push(() => other.context.close());
  const missingChat = randomUUID();
  await step('signed-out deep link goes to sign-in and returns there afterwards', async () => {
    await other.page.goto(`/chats/${missingChat}`);
    await other.page.getByTestId('login-form').waitFor();
    assert.equal(new URL(other.page.url()).pathname, '/login');
    await other.page.getByLabel('Username or email').fill(account.username);
    await other.page.getByLabel('Password').fill(account.password);
    await other.page.getByRole('button', { name: 'Sign in' }).click();
    await other.page.getByTestId('chat-not-found').waitFor();
    assert.equal(new URL(other.page.url()).pathname, `/chats/${missingChat}`);
  });

  await step('sessions page lists this device and the other one', async () => {
    await page.getByRole('link', { name: 'Sessions', exact: true }).click();
    await page.getByTestId('session-list').waitFor();
    assert.equal(await page.getByTestId('session-item').count(), 2);
    const current = page.locator('[data-testid="session-item"][data-current="true"]');
    assert.equal(await current.count(), 1);
    assert.equal(await current.getByTestId('this-device').textContent(), 'This device');
    assert.match(await current.getByTestId('session-device').innerText(), /Chrome on Linux/);
    assert.match(await current.innerText(), /web/);
    assert.match(await current.innerText(), /Active (less than a minute ago|\d+ \w+ ago)/);
    await screenshot(page, 'sessions');
  });

  await step('signing out the other session signs that device out', async () => {
    const otherItem = page.locator('[data-testid="session-item"][data-current="false"]');
    await otherItem.getByRole('button', { name: /^Sign out/ }).click();
    await otherItem.waitFor({ state: 'detached' });
    assert.equal(await page.getByTestId('session-item').count(), 1);
    await other.page.reload();
    await other.page.getByTestId('login-form').waitFor();
    assert.equal(new URL(other.page.url()).pathname, '/login');
    // This device is unaffected.
    await page.reload();
    await page.getByTestId('session-list').waitFor();
    assert.equal(await topbarName().textContent(), renamed);
  });

  await step('change password: wrong current password is refused, right one accepted', async () => {
    await page.getByRole('link', { name: 'Profile', exact: true }).click();
    await page.getByTestId('password-form').waitFor();
    const newPassword = `${account.password}-2`;
    await page.getByLabel('Current password').fill('not-the-password');
    await page.getByLabel('New password', { exact: true }).fill(newPassword);
    await page.getByLabel('Repeat new password').fill(newPassword);
    await page.getByRole('button', { name: 'Change password' }).click();
    assert.match(await page.getByTestId('currentPassword-error').innerText(), /current password is wrong/i);
    await page.getByLabel('Current password').fill(account.password);
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByTestId('password-success').waitFor();
    account.password = newPassword;
    // This device stays signed in after the change.
    await page.reload();
    assert.equal(await topbarName().textContent(), renamed);
  });

  await step('unknown route shows the not-found page', async () => {
    await page.goto('/no/such/page');
    await page.getByTestId('not-found').waitFor();
    await screenshot(page, 'not-found');
  });

  // ---- Messaging: two people in two browser contexts -------------------------------------
  const bobAccount = {
    username: `bob_${id}`,
    email: `bob_${id}@example.test`,
    displayName: `Bob ${id}`,
    password: `pw-${randomBytes(8).toString('hex')}`,
  };
  const bob = await newPage();
  cleanups.push(() => bob.context.close());
  const alice = page;
  let chatId = '';
  let helloId = '';
  // Only messages the server confirmed (pending ones have no id yet).
  const message = (p, text) => p.locator('[data-testid="message"][data-message-id]', { hasText: text });
  /** Whether the first element matching `selector` (and holding `text`) is in the message list's view. */
  const inListView = (p, selector, text = '') =>
    p.evaluate(
      ([sel, txt]) => {
        const el = [...document.querySelectorAll(sel)].find((e) => e.textContent.includes(txt));
        const list = document.querySelector('.message-list__scroller');
        if (!el || !list) return false;
        const [a, b] = [el.getBoundingClientRect(), list.getBoundingClientRect()];
        return a.top >= b.top && a.bottom <= b.bottom;
      },
      [selector, text],
    );
  const until = async (check, what) => {
    for (const end = Date.now() + STEP_TIMEOUT_MS; !(await check());) {
      if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const send = async (p, text) => {
    const input = p.getByTestId('composer-input');
    await input.fill(text);
    await input.press('Enter');
  };

  await step('a second person signs up in another browser', async () => {
    await bob.page.goto('/register');
    await fillRegister(bob.page, bobAccount);
    await bob.page.getByTestId('home-page').waitFor();
  });

  await step('start a direct chat from user search', async () => {
    await alice.goto('/');
    await alice.getByTestId('new-chat-button').click();
    await alice.getByTestId('user-search-input').fill(bobAccount.username);
    await alice.getByTestId('user-search-result').first().click();
    await alice.getByTestId('chat-view').waitFor();
    chatId = await alice.getByTestId('chat-view').getAttribute('data-chat-id');
    assert.ok(chatId);
    assert.equal(new URL(alice.url()).pathname, `/chats/${chatId}`);
    assert.equal(await alice.getByTestId('chat-title').innerText(), bobAccount.displayName);
  });

  await step(
    'send: Enter sends, Shift+Enter is a new line; it arrives live with an unread badge',
    async () => {
      const input = alice.getByTestId('composer-input');
      await input.fill('Hello **Bob**, see https://example.com');
      await input.press('Shift+Enter');
      await input.pressSequentially('second line');
      await input.press('Enter');
      const mine = message(alice, 'Hello');
      await mine.waitFor();
      helloId = await mine.getAttribute('data-message-id');
      assert.ok(helloId, 'the message has its server id');
      assert.equal(await mine.locator('strong').innerText(), 'Bob');
      assert.equal(await mine.locator('a[href="https://example.com"]').count(), 1);
      assert.match(await mine.getByTestId('message-body').innerText(), /second line/);
      // Alice is a stranger to Bob: her chat is a request, waiting for his answer.
      await alice.locator('[data-testid="request-waiting"][data-sent="1"]').waitFor();
      assert.match(
        await alice.getByTestId('request-waiting').innerText(),
        new RegExp(`Waiting for ${bobAccount.displayName} to accept \\(1 of 3 messages\\)`),
      );
      // Bob's Requests tab shows it with one unread message, without a reload; his chats do not.
      await bob.page.locator('[data-testid="chat-tab-requests-count"]', { hasText: '1' }).waitFor();
      assert.equal(await bob.page.locator('[data-testid="chat-list"][data-view="main"]').count(), 1);
      assert.equal(
        await bob.page.locator(`[data-testid="chat-list-item"][data-chat-id="${chatId}"]`).count(),
        0,
        'a request stays out of the main list',
      );
      await bob.page.getByTestId('chat-tab-requests').click();
      const item = bob.page.locator(`[data-testid="chat-list-item"][data-chat-id="${chatId}"]`);
      await item.waitFor();
      assert.equal(await item.getByTestId('unread-badge').innerText(), '1');
    },
  );

  await step('a chat request from a stranger: Bob opens it from Requests and accepts', async () => {
    await bob.page.locator(`[data-testid="chat-list-item"][data-chat-id="${chatId}"]`).click();
    const banner = bob.page.getByTestId('chat-request-banner');
    await banner.waitFor();
    assert.match(await banner.innerText(), new RegExp(`${renamed} wants to chat`));
    await message(bob.page, 'Hello').waitFor();
    // No composer until Bob answers, and Alice sees no read tick before that.
    assert.equal(await bob.page.getByTestId('composer').count(), 0);
    await screenshot(bob.page, 'chat-request-banner');
    await bob.page.getByTestId('request-accept-button').click();
    await bob.page.getByTestId('composer').waitFor();
    await banner.waitFor({ state: 'detached' });
    // A normal chat now: in Bob's main list; Alice's "waiting" line goes away live.
    await bob.page
      .locator(`[data-testid="chat-list"][data-view="main"] [data-chat-id="${chatId}"]`)
      .waitFor();
    await alice.getByTestId('request-waiting').waitFor({ state: 'detached' });
  });

  await step('opening the chat reads it: the sender sees the read tick', async () => {
    await bob.page.locator(`[data-testid="chat-list-item"][data-chat-id="${chatId}"]`).click();
    await message(bob.page, 'Hello').waitFor();
    await alice
      .locator(`[data-testid="message"][data-message-id="${helloId}"][data-status="read"]`)
      .waitFor();
    await bob.page
      .locator(`[data-testid="chat-list-item"][data-chat-id="${chatId}"] [data-testid="unread-badge"]`)
      .waitFor({ state: 'detached' });
  });

  await step('typing shows on the other side', async () => {
    await bob.page.getByTestId('composer-input').pressSequentially('typing something', { delay: 20 });
    // Read in the same moment it shows: the indicator goes away by itself a few seconds later.
    const shown = await alice.waitForFunction((name) => {
      const text = document.querySelector('[data-testid="typing-indicator"]')?.textContent ?? '';
      return text.includes(name) && text;
    }, bobAccount.displayName);
    assert.match(await shown.jsonValue(), /typing/);
    await screenshot(alice, 'chat-typing');
    await bob.page.getByTestId('composer-input').fill('');
  });

  await step('reply with a quote', async () => {
    const original = bob.page.locator(`[data-testid="message"][data-message-id="${helloId}"]`);
    await original.hover();
    await original.getByTestId('reply-button').click();
    await bob.page.getByTestId('reply-bar').waitFor();
    await send(bob.page, 'Replying to you');
    const reply = message(alice, 'Replying to you');
    await reply.waitFor();
    assert.equal(await reply.getByTestId('reply-quote').getAttribute('data-reply-to'), helloId);
    // The quote is plain text: "Hello **Bob**" reads "Hello Bob".
    assert.match(await reply.getByTestId('reply-quote').innerText(), /Hello Bob, see https:\/\/example\.com/);
  });

  await step('react to a message; the other side sees it', async () => {
    const reply = message(alice, 'Replying to you');
    await reply.hover();
    await reply.getByTestId('reaction-button').click();
    await alice.locator('[data-testid="reaction-option"][data-emoji="👍"]').click();
    await message(bob.page, 'Replying to you')
      .locator('[data-testid="reaction-chip"][data-emoji="👍"][data-count="1"]')
      .waitFor();
  });

  await step('edit a message; the other side sees the new text marked edited', async () => {
    const mine = alice.locator(`[data-testid="message"][data-message-id="${helloId}"]`);
    await mine.hover();
    await mine.getByTestId('message-menu-button').click();
    await alice.getByTestId('edit-button').click();
    await alice.getByTestId('edit-bar').waitFor();
    await alice.getByTestId('composer-input').fill('Hello again, edited');
    await alice.getByTestId('composer-input').press('Enter');
    const seen = bob.page.locator(`[data-testid="message"][data-message-id="${helloId}"]`);
    await seen.getByText('Hello again, edited').waitFor();
    await seen.getByTestId('message-edited').waitFor();
    await screenshot(bob.page, 'chat-edited-reply-reaction');
  });

  await step('delete for everyone leaves a tombstone on both sides', async () => {
    await send(alice, 'This will be deleted');
    const doomed = message(alice, 'This will be deleted');
    await doomed.waitFor();
    const doomedId = await doomed.getAttribute('data-message-id');
    await message(bob.page, 'This will be deleted').waitFor();
    await doomed.hover();
    await doomed.getByTestId('message-menu-button').click();
    await alice.getByTestId('delete-everyone-button').click();
    // It asks first; the message stays until confirmed.
    const ask = alice.getByTestId('confirm-dialog');
    await ask.waitFor();
    assert.match(await ask.innerText(), /Delete for everyone\?/);
    await screenshot(alice, 'confirm-delete');
    await ask.getByTestId('confirm-button').click();
    for (const p of [alice, bob.page]) {
      await p
        .locator(`[data-testid="message"][data-message-id="${doomedId}"] [data-testid="message-deleted"]`)
        .waitFor();
    }
    assert.equal(await bob.page.getByText('This will be deleted').count(), 0);
    await screenshot(alice, 'chat-view');
  });

  // ---- Media: a pasted picture and files, seen by the other person --------------------------
  const PICTURE = { width: 640, height: 480 };
  const noteText = `Meeting notes ${id}\nfirst point\nsecond point\n`;
  const pictureTile = (p) =>
    p
      .locator('[data-testid="message"][data-message-id]', { hasText: 'Pasted picture' })
      .getByTestId('media-tile');
  /** The element's box once it has one (a picture being swapped has none for a moment). */
  const boxOf = async (locator) => {
    const deadline = Date.now() + STEP_TIMEOUT_MS / 2;
    for (;;) {
      const box = await locator.boundingBox();
      if (box || Date.now() > deadline) return box;
      await locator.page().waitForTimeout(100);
    }
  };
  /**
   * Nothing scrolls sideways: not the page, not a box inside it (but the composer's strip of
   * files waiting to go, which is made to).
   */
  const noOverflow = async (p, what) => {
    const { width, scrollers } = await p.evaluate(() => ({
      width: (document.scrollingElement ?? document.documentElement).scrollWidth,
      scrollers: [...document.querySelectorAll('body *:not(.upload-tray__list)')]
        .filter((el) => {
          const { overflowX } = getComputedStyle(el);
          return (overflowX === 'auto' || overflowX === 'scroll') && el.scrollWidth > el.clientWidth + 1;
        })
        .map((el) => el.getAttribute('data-testid') ?? el.className),
    }));
    const viewport = p.viewportSize()?.width ?? 0;
    assert.ok(
      width <= viewport,
      `${what}: no horizontal overflow at ${viewport} px (the page is ${width} px wide)`,
    );
    assert.deepEqual(scrollers, [], `${what}: nothing inside scrolls sideways at ${viewport} px`);
  };

  await step('paste a picture into the composer: it uploads, and goes with the message', async () => {
    await alice.goto(`/chats/${chatId}`);
    const input = alice.getByTestId('composer-input');
    await input.click();
    // A picture drawn in the page, pasted as a screenshot tool would put it on the clipboard.
    await alice.evaluate(async ({ width, height }) => {
      const canvas = document.createElement('canvas');
      canvas.width = width;
      canvas.height = height;
      const ctx = canvas.getContext('2d');
      const sky = ctx.createLinearGradient(0, 0, 0, height);
      sky.addColorStop(0, '#4f46e5');
      sky.addColorStop(1, '#f59e0b');
      ctx.fillStyle = sky;
      ctx.fillRect(0, 0, width, height);
      ctx.fillStyle = '#fff';
      ctx.font = 'bold 64px sans-serif';
      ctx.fillText('Parley', 40, 120);
      ctx.beginPath();
      ctx.arc(width - 140, height - 140, 90, 0, Math.PI * 2);
      ctx.fill();
      const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
      const data = new DataTransfer();
      data.items.add(new File([blob], 'screenshot.png', { type: 'image/png' }));
      const target = document.querySelector('[data-testid="composer-input"]');
      target.dispatchEvent(
        new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }),
      );
    }, PICTURE);
    const tile = alice.getByTestId('upload-tile');
    await tile.waitFor();
    assert.equal(await tile.getAttribute('data-name'), 'screenshot.png');
    assert.equal(await input.inputValue(), '', 'a pasted picture is not pasted as text');
    // Full size, as pasted: the upload is made again in original quality.
    await alice.getByTestId('original-quality').check();
    await alice.locator('[data-testid="upload-tile"][data-status="done"]').waitFor();
    await screenshot(alice, 'composer-pasted-picture');
    await input.fill('Pasted picture');
    await input.press('Enter');
    await pictureTile(alice).waitFor();
    assert.equal(await alice.getByTestId('upload-tile').count(), 0, 'the composer is empty again');
  });

  await step(
    'the other person sees the thumbnail arrive, opens the lightbox and downloads the original',
    async () => {
      const p = bob.page;
      const tile = pictureTile(p);
      await tile.waitFor();
      // Laid out from the stored size before any bytes: 4:3.
      const box = await tile.boundingBox();
      assert.ok(
        box && Math.abs(box.width / box.height - 4 / 3) < 0.02,
        `tile keeps the picture's shape: ${JSON.stringify(box)}`,
      );
      await p.locator('[data-testid="media-tile"][data-status="ready"][data-shown="thumbnail"]').waitFor();
      const natural = await tile.getByTestId('media-tile-img').evaluate((img) => img.naturalWidth);
      assert.ok(natural > 0 && natural <= 320, `the thumbnail loaded (${natural} px wide)`);
      await screenshot(p, 'picture-received');

      await tile.click();
      const lightbox = p.getByTestId('lightbox');
      await lightbox.waitFor();
      await p.locator('[data-testid="lightbox-image"][data-variant="original"]').waitFor();
      const shown = await p
        .getByTestId('lightbox-image')
        .evaluate((img) => [img.naturalWidth, img.naturalHeight]);
      assert.deepEqual(shown, [PICTURE.width, PICTURE.height]);
      await screenshot(p, 'lightbox');

      const [download] = await Promise.all([
        p.waitForEvent('download'),
        p.getByTestId('lightbox-download').click(),
      ]);
      const bytes = readFileSync(await download.path());
      const size = imageSize(bytes);
      assert.ok(size, `the download is a PNG or JPEG (starts ${bytes.subarray(0, 8).toString('hex')})`);
      assert.deepEqual([size.width, size.height], [PICTURE.width, PICTURE.height]);
      assert.match(download.suggestedFilename(), /^screenshot\.(png|jpe?g)$/);

      await p.keyboard.press('Escape');
      await lightbox.waitFor({ state: 'detached' });
      // Focus goes back to the picture (Radix gives it back a tick after the dialog goes).
      await p.waitForFunction((el) => el === document.activeElement, await tile.elementHandle());
    },
  );

  await step('files from the paperclip arrive as cards that download', async () => {
    await alice.getByTestId('attach-input').setInputFiles([
      { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from(noteText) },
      {
        name: 'plan.pdf',
        mimeType: 'application/pdf',
        buffer: Buffer.from(
          '%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n',
        ),
      },
    ]);
    await alice.locator('[data-testid="upload-tile"][data-status="done"]').nth(1).waitFor();
    // No text: the files are the message.
    await alice.getByTestId('send-button').click();
    const cards = bob.page
      .locator('[data-testid="message"][data-message-id]')
      .last()
      .getByTestId('file-card');
    await cards.nth(1).waitFor();
    assert.deepEqual(await cards.getByTestId('file-card-name').allInnerTexts(), ['notes.txt', 'plan.pdf']);
    assert.match(await cards.first().getByTestId('file-card-size').innerText(), /^\d+ B$/);
    await bob.page
      .locator('[data-testid="file-card"][data-status="ready"] [data-testid="file-card-download"]')
      .first()
      .waitFor();
    const [download] = await Promise.all([
      bob.page.waitForEvent('download'),
      cards.first().getByTestId('file-card-download').click(),
    ]);
    assert.equal(download.suggestedFilename(), 'notes.txt');
    assert.equal(readFileSync(await download.path(), 'utf8'), noteText);
    // The sender's copy downloads too (its upload's answer may come after its ready event).
    await alice
      .locator('[data-testid="message"][data-message-id]')
      .last()
      .locator('[data-testid="file-card-download"]')
      .nth(1)
      .waitFor();
    await screenshot(bob.page, 'file-cards');
  });

  // Large files go the direct way (ticket, PUT, completion): here the PUT is to this server;
  // with S3 it goes to the bucket (the step near the end).
  const bigLog = Buffer.from(`${'log line of a long build, nothing to see here\n'.repeat(200_000)}`);
  // The PUTs that were answered with success (one the page's CSP or CORS blocked has no
  // response); a file that went through the server instead (POST /api/media) fails the step.
  const bigUpload = async (p, name) => {
    const puts = [];
    const viaServer = [];
    const onResponse = (r) => {
      const method = r.request().method();
      if (method === 'PUT' && r.ok()) puts.push(r.url());
      if (method === 'POST' && new URL(r.url()).pathname === '/api/media') viaServer.push(r.url());
    };
    p.on('response', onResponse);
    try {
      await p.getByTestId('attach-input').setInputFiles([{ name, mimeType: 'text/plain', buffer: bigLog }]);
      await p.locator(`[data-testid="upload-tile"][data-name="${name}"][data-status="done"]`).waitFor();
    } finally {
      p.off('response', onResponse);
    }
    assert.deepEqual(viaServer, [], 'the file did not fall back to going through the server');
    await p.getByTestId('send-button').click();
    return puts;
  };

  await step('a 9 MB file goes up the direct way and arrives as a card', async () => {
    const puts = await bigUpload(alice, 'build.log');
    assert.equal(puts.length, 1, `one PUT: ${puts.join(', ')}`);
    assert.match(new URL(puts[0]).pathname, /^\/api\/media\/uploads\/[0-9a-f-]{36}\/content$/);
    const card = bob.page.locator('[data-testid="file-card"][data-status="ready"]', { hasText: 'build.log' });
    await card.waitFor();
    assert.match(await card.getByTestId('file-card-size').innerText(), /^9(\.\d)? MB$/);
  });

  await step(
    'several pictures in one message: a grid; arrows move through them in the lightbox',
    async () => {
      // Four JPEGs of different shapes, drawn in the page.
      const pictures = await alice.evaluate(async () => {
        const shapes = [
          [800, 600, '#ef4444'],
          [600, 900, '#10b981'],
          [1000, 500, '#3b82f6'],
          [700, 700, '#f59e0b'],
        ];
        const out = [];
        for (const [i, [w, h, colour]] of shapes.entries()) {
          const canvas = document.createElement('canvas');
          canvas.width = w;
          canvas.height = h;
          const ctx = canvas.getContext('2d');
          ctx.fillStyle = colour;
          ctx.fillRect(0, 0, w, h);
          ctx.fillStyle = '#fff';
          ctx.font = 'bold 160px sans-serif';
          ctx.fillText(String(i + 1), 60, 200);
          const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.85));
          const url = await new Promise((resolve) => {
            const reader = new FileReader();
            reader.onload = () => resolve(reader.result);
            reader.readAsDataURL(blob);
          });
          out.push(url.split(',')[1]);
        }
        return out;
      });
      await alice.getByTestId('attach-input').setInputFiles(
        pictures.map((b64, i) => ({
          name: `photo-${i + 1}.jpg`,
          mimeType: 'image/jpeg',
          buffer: Buffer.from(b64, 'base64'),
        })),
      );
      await alice.locator('[data-testid="upload-tile"][data-status="done"]').nth(3).waitFor();
      await send(alice, 'Four photos');

      const p = bob.page;
      const grid = p
        .locator('[data-testid="message"][data-message-id]', { hasText: 'Four photos' })
        .getByTestId('media-grid');
      await grid.waitFor();
      assert.equal(await grid.getAttribute('data-count'), '4');
      await grid.locator('[data-testid="media-tile"][data-shown="thumbnail"]').nth(3).waitFor();
      await screenshot(p, 'picture-grid');
      await grid.getByTestId('media-tile').nth(1).click();
      const lightbox = p.getByTestId('lightbox');
      await lightbox.waitFor();
      assert.equal(await lightbox.getAttribute('data-index'), '1');
      await p.keyboard.press('ArrowRight');
      await p.locator('[data-testid="lightbox"][data-index="2"]').waitFor();
      await p.keyboard.press('ArrowLeft');
      await p.keyboard.press('ArrowLeft');
      await p.locator('[data-testid="lightbox"][data-index="0"]').waitFor();
      await p.keyboard.press('Escape');
      await lightbox.waitFor({ state: 'detached' });
    },
  );

  await step('record a voice note: the other person sees its waveform and plays it', async () => {
    await alice.context().grantPermissions(['microphone'], { origin: base });
    await alice.getByTestId('mic-button').click();
    await alice.locator('[data-testid="voice-recorder"][data-phase="recording"]').waitFor();
    await alice.waitForFunction(
      () => document.querySelector('[data-testid="voice-timer"]')?.textContent === '0:02',
    );
    await alice.getByTestId('voice-stop').click();
    await alice.locator('[data-testid="voice-recorder"][data-phase="preview"]').waitFor();
    assert.equal(
      await alice.getByTestId('voice-preview').getByTestId('waveform').getAttribute('data-bars'),
      '64',
    );
    await screenshot(alice, 'voice-preview');
    await alice.getByTestId('voice-send').click();
    await alice.getByTestId('voice-recorder').waitFor({ state: 'detached' });

    const note = bob.page
      .locator('[data-testid="message"][data-message-id]')
      .last()
      .getByTestId('voice-player');
    await note.waitFor();
    await bob.page.locator('[data-testid="voice-player"][data-status="ready"]').waitFor();
    assert.equal(await note.getByTestId('waveform').getAttribute('data-bars'), '64');
    assert.match(await note.getByTestId('voice-time').innerText(), /^0:0[1-3]$/);
    await note.getByTestId('voice-play').click();
    await bob.page.locator('[data-testid="voice-player"][data-playing="true"]').waitFor();
    await screenshot(bob.page, 'voice-note');
  });

  await step('phone width: pictures, lightbox, gallery and the composer fit', async () => {
    const p = bob.page;
    await p.setViewportSize({ width: 390, height: 800 });
    await pictureTile(p).waitFor();
    await noOverflow(p, 'chat with media');
    const tileBox = await pictureTile(p).boundingBox();
    assert.ok(
      tileBox && tileBox.x >= 0 && tileBox.x + tileBox.width <= 390,
      `picture within 390 px: ${JSON.stringify(tileBox)}`,
    );
    await screenshot(p, 'media-phone');

    await pictureTile(p).click();
    // The preview shows first and the original takes its place once loaded: measure that one.
    await p.locator('[data-testid="lightbox-image"][data-variant="original"]').waitFor();
    await p.waitForFunction(() => {
      const el = document.querySelector('[data-testid="lightbox-image"]');
      return el instanceof HTMLImageElement && el.complete && el.naturalWidth > 0;
    });
    const img = await boxOf(p.getByTestId('lightbox-image'));
    assert.ok(
      img && img.x >= 0 && img.x + img.width <= 390,
      `lightbox picture within 390 px: ${JSON.stringify(img)}`,
    );
    await noOverflow(p, 'lightbox');
    await screenshot(p, 'lightbox-phone');
    await p.keyboard.press('Escape');

    // The gallery: pictures, then files; a picture opens the lightbox over it.
    await p.getByTestId('chat-menu-button').click();
    await p.getByTestId('chat-menu-media').click();
    const gallery = p.getByTestId('media-gallery');
    await gallery.getByTestId('media-tile').first().waitFor();
    await noOverflow(p, 'gallery');
    await screenshot(p, 'gallery-phone');
    await gallery.getByTestId('media-tile').first().click();
    await p.getByTestId('lightbox').waitFor();
    await p.keyboard.press('Escape');
    await p.getByTestId('lightbox').waitFor({ state: 'detached' });
    assert.equal(await gallery.count(), 1, 'Escape closes only the lightbox');
    await gallery.getByTestId('gallery-tab-file').click();
    await gallery.getByTestId('gallery-item').nth(1).waitFor();
    await screenshot(p, 'gallery-files-phone');
    await gallery.getByTestId('gallery-jump').first().click();
    await gallery.waitFor({ state: 'detached' });
    await p.waitForURL(`**/chats/${chatId}/messages/**`);

    // Alice's composer with files waiting, at phone width.
    await alice.setViewportSize({ width: 390, height: 800 });
    await alice.getByTestId('attach-input').setInputFiles([
      {
        name: 'a-file-with-a-rather-long-name-for-a-phone.txt',
        mimeType: 'text/plain',
        buffer: Buffer.from('one'),
      },
      { name: 'second.txt', mimeType: 'text/plain', buffer: Buffer.from('two') },
      { name: 'third.txt', mimeType: 'text/plain', buffer: Buffer.from('three') },
    ]);
    await alice.locator('[data-testid="upload-tile"][data-status="done"]').nth(2).waitFor();
    await noOverflow(alice, 'composer with files');
    const composer = await alice.getByTestId('composer').boundingBox();
    assert.ok(
      composer && composer.x + composer.width <= 390,
      `composer within 390 px: ${JSON.stringify(composer)}`,
    );
    await screenshot(alice, 'composer-files-phone');
    for (let n = 3; n > 0; n -= 1) await alice.getByTestId('upload-cancel').first().click();
    assert.equal(await alice.getByTestId('upload-tile').count(), 0);
    await alice.setViewportSize({ width: 1200, height: 800 });
    await p.setViewportSize({ width: 1200, height: 800 });
    await p.goto(`/chats/${chatId}`);
  });

  await step('a deep link to a message 200 messages back opens there, highlighted', async () => {
    // Bob is away from the chat meanwhile (open at its newest, he would read them all as
    // they come: the steps below need them unread).
    await bob.page.goto('/');
    await bob.page.getByTestId('home-page').waitFor();
    // 220 more messages through the API, as another device of Alice would send them.
    const login = await fetch(`${base}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        login: account.username,
        password: account.password,
        deviceName: 'e2e seeding',
      }),
    }).then((r) => r.json());
    const seed = async (n) => {
      const res = await fetch(`${base}/api/chats/${chatId}/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${login.accessToken}` },
        body: JSON.stringify({ clientMsgId: randomUUID(), body: `Backlog message ${n}` }),
      });
      assert.equal(res.status, 201, `seeding message ${n}`);
      return (await res.json()).id;
    };
    // Ten at a time (one after another takes long on a busy machine); message 20 is the
    // target, and more than 200 come after it whatever the order inside a group of ten.
    let target = '';
    for (let from = 1; from <= 220; from += 10) {
      const ids = await Promise.all(Array.from({ length: 10 }, (_, i) => seed(from + i)));
      if (from === 11) target = ids[9];
    }
    await bob.page.goto(`/chats/${chatId}/messages/${target}`);
    const linked = bob.page.locator(`[data-testid="message"][data-message-id="${target}"]`);
    await linked.waitFor();
    assert.match(await linked.innerText(), /Backlog message 20\b/);
    assert.match((await linked.getAttribute('class')) ?? '', /message--highlight/);
    await bob.page.waitForFunction((sel) => {
      const el = document.querySelector(sel);
      if (!el) return false;
      const r = el.getBoundingClientRect();
      return r.top >= 0 && r.bottom <= window.innerHeight;
    }, `[data-testid="message"][data-message-id="${target}"]`);
    // The newest messages are not loaded around an old one.
    const list = bob.page.getByTestId('message-list');
    assert.equal(await list.getByText('Backlog message 220', { exact: true }).count(), 0);
    await screenshot(bob.page, 'chat-deep-link-200-back');
  });

  await step(
    'a chat opens at its first unread message; a dropped connection shows a banner, reconnects and resumes without losing messages',
    async () => {
      // Test-only instrumentation: remember the page's sockets so the step can cut them.
      await bob.context.addInitScript(() => {
        const Native = window.WebSocket;
        window.__sockets = [];
        window.__offline = false;
        window.WebSocket = class extends Native {
          constructor(...args) {
            super(...args);
            window.__sockets.push(this);
            // "Offline": every new connection fails at once, as with no network.
            if (window.__offline) this.close();
          }
        };
      });
      await bob.page.goto(`/chats/${chatId}`);
      // Bob left Alice's backlog unread, so the chat opens at the first unread message under
      // the "New messages" line, and stays there while its rows are measured (the list once
      // slid down to the end of the page it loaded when a row grew: seen under load).
      const divider = () => inListView(bob.page, '[data-testid="new-messages-divider"]');
      await until(divider, 'the New messages line is in view');
      await new Promise((r) => setTimeout(r, 1500));
      assert.ok(await divider(), 'still at the first unread');
      await screenshot(bob.page, 'chat-opens-at-first-unread');
      // He goes to the newest, where live messages arrive.
      const newest = message(bob.page, 'Backlog message 220');
      await bob.page.getByTestId('jump-to-latest').click();
      await bob.page.getByTestId('load-newer-button').waitFor({ state: 'detached' });
      await newest.waitFor();
      await bob.page.waitForFunction(() => window.__sockets.some((s) => s.readyState === 1));
      // The network drops; while Bob is away Alice writes.
      await bob.page.evaluate(() => {
        window.__offline = true;
        window.__sockets.forEach((s) => s.close());
      });
      await bob.page.getByTestId('reconnecting-banner').waitFor();
      await send(alice, 'Sent while you were away');
      await message(alice, 'Sent while you were away').waitFor();
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(await message(bob.page, 'Sent while you were away').count(), 0, 'Bob is offline');
      await screenshot(bob.page, 'reconnecting');
      await bob.page.evaluate(() => (window.__offline = false));
      await message(bob.page, 'Sent while you were away').waitFor();
      await bob.page.getByTestId('reconnecting-banner').waitFor({ state: 'detached' });
      assert.equal(await message(bob.page, 'Sent while you were away').count(), 1);
    },
  );

  await step('a long chat opened at its last few unread messages follows the next one', async () => {
    await bob.page.goto('/');
    await send(alice, 'Two unread, one');
    await send(alice, 'Two unread, two');
    const item = bob.page.locator(`[data-testid="chat-list-item"][data-chat-id="${chatId}"]`);
    await item.getByTestId('unread-badge').waitFor();
    await item.click();
    await until(
      () => inListView(bob.page, '[data-testid="new-messages-divider"]'),
      'the New messages line is in view',
    );
    // Settled at the bottom (everything unread fits below the line): what comes next shows.
    await new Promise((r) => setTimeout(r, 1500));
    await send(alice, 'Followed as it came');
    await until(
      () => inListView(bob.page, '[data-testid="message"]', 'Followed as it came'),
      'the new message is in view',
    );
  });

  await step('a new group shows up live for its members', async () => {
    await alice.goto('/');
    await alice.getByTestId('new-group-button').click();
    await alice.getByLabel('Name').fill(`Team ${id}`);
    await alice.getByTestId('user-search-input').fill(bobAccount.username);
    await alice.getByTestId('user-search-result').first().click();
    await alice.getByTestId('picked-member').waitFor();
    await alice.getByTestId('create-group-button').click();
    await alice.getByTestId('chat-view').waitFor();
    await send(alice, 'Welcome to the team');
    const item = bob.page.locator('[data-testid="chat-list-item"]', { hasText: `Team ${id}` });
    await item.waitFor();
    await item.click();
    await message(bob.page, 'Welcome to the team').waitFor();
    await alice.locator('[data-testid="read-by"][data-read="1"][data-of="1"]').waitFor();
    await screenshot(alice, 'group-read-by');
  });

  // ---- Contacts, profiles, blocking, muting, mentions, priority, archive, disappearing ----
  const groupItem = (p) => p.locator('[data-testid="chat-list-item"]', { hasText: `Team ${id}` });
  let aliceId = '';
  let bobId = '';

  await step(
    'a profile page from a sender name; a contact request accepted live on the Contacts page',
    async () => {
      // Bob is in the group; Alice's message there carries her name, which leads to her profile.
      await message(bob.page, 'Welcome to the team').getByTestId('message-sender').click();
      const profile = bob.page.getByTestId('user-profile');
      await profile.waitFor();
      aliceId = await profile.getAttribute('data-user-id');
      assert.equal(new URL(bob.page.url()).pathname, `/users/${aliceId}`);
      assert.equal(await bob.page.getByTestId('user-profile-name').innerText(), renamed);
      assert.equal(await bob.page.getByTestId('user-profile-username').innerText(), `@${account.username}`);
      assert.equal(
        await bob.page.getByTestId('user-profile-status').innerText(),
        'Testing Parley end to end',
      );
      await bob.page.locator('[data-testid="user-profile-presence"][data-online="true"]').waitFor();
      await bob.page.getByTestId('profile-add-contact-button').click();
      await bob.page.getByTestId('profile-request-sent').waitFor();

      // Alice: the request shows up live in the navigation and on her Contacts page.
      await alice.locator('[data-testid="nav-contacts-count"]', { hasText: '1' }).waitFor();
      await alice.getByTestId('nav-contacts').click();
      await alice.getByTestId('contacts-page').waitFor();
      const request = alice.locator('[data-testid="contact-request"][data-direction="incoming"]');
      await request.waitFor();
      assert.match(await request.innerText(), new RegExp(bobAccount.displayName));
      await screenshot(alice, 'contacts-incoming-request');
      bobId = await request.getAttribute('data-user-id');
      await request.getByTestId('contact-accept-button').click();
      const contact = alice.locator(`[data-testid="contact"][data-user-id="${bobId}"]`);
      await contact.waitFor();
      await alice.locator(`[data-testid="contact"][data-user-id="${bobId}"][data-online="true"]`).waitFor();
      assert.match(await contact.getByTestId('contact-presence').innerText(), /online/);
      await screenshot(alice, 'contacts-page');
      // Bob's profile page of Alice follows without a reload.
      await bob.page.getByTestId('profile-contact-status').waitFor();
      assert.equal(await bob.page.getByTestId('profile-block-button').count(), 1);
      await screenshot(bob.page, 'profile-page');
    },
  );

  const cyAccount = {
    username: `cy_${id}`,
    email: `cy_${id}@example.test`,
    displayName: `Cy ${id}`,
    password: `pw-${randomBytes(8).toString('hex')}`,
  };
  const cy = await newPage();
  cleanups.push(() => cy.context.close());

  await step('a block stops messages: Cy asks, Bob blocks from the banner, Cy is refused', async () => {
    const registered = await fetch(`${base}/api/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(cyAccount),
    });
    assert.equal(registered.status, 201);
    await cy.page.goto('/login');
    await cy.page.getByLabel('Username or email').fill(cyAccount.username);
    await cy.page.getByLabel('Password').fill(cyAccount.password);
    await cy.page.getByRole('button', { name: 'Sign in' }).click();
    await cy.page.getByTestId('home-page').waitFor();
    await cy.page.getByTestId('new-chat-button').click();
    await cy.page.getByTestId('user-search-input').fill(bobAccount.username);
    await cy.page.getByTestId('user-search-result').first().click();
    await cy.page.getByTestId('chat-view').waitFor();
    const cyChat = await cy.page.getByTestId('chat-view').getAttribute('data-chat-id');
    await send(cy.page, 'Hi Bob, Cy here');
    await message(cy.page, 'Hi Bob, Cy here').waitFor();

    await bob.page.goto('/');
    await bob.page.getByTestId('chat-tab-requests').click();
    const item = bob.page.locator(`[data-testid="chat-list-item"][data-chat-id="${cyChat}"]`);
    await item.waitFor();
    await screenshot(bob.page, 'requests-list');
    await item.click();
    await bob.page.getByTestId('chat-request-banner').waitFor();
    await message(bob.page, 'Hi Bob, Cy here').waitFor();
    await bob.page.getByTestId('request-block-button').click();
    await bob.page.getByTestId('confirm-dialog').getByTestId('confirm-button').click();
    const blocked = bob.page.getByTestId('chat-blocked');
    await blocked.waitFor();
    assert.match(await blocked.innerText(), new RegExp(`You blocked ${cyAccount.displayName}`));
    assert.equal(await blocked.getByTestId('unblock-button').count(), 1);
    assert.equal(await bob.page.getByTestId('composer').count(), 0);
    await screenshot(bob.page, 'blocked-chat');

    // Cy's next message is refused, with words that say why; Bob receives nothing.
    await send(cy.page, 'Are you there?');
    const error = cy.page.locator('[data-testid="send-error"][data-code="BLOCKED"]');
    await error.waitFor();
    assert.match(await error.innerText(), new RegExp(`You can't message ${bobAccount.displayName}`));
    await cy.page.getByTestId('chat-cant-message').waitFor();
    await screenshot(cy.page, 'blocked-send-refused');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await bob.page.getByText('Are you there?').count(), 0, 'Bob receives nothing');

    // Bob's settings list Cy as blocked.
    await bob.page.getByRole('link', { name: 'Profile', exact: true }).click();
    const listed = bob.page.locator('[data-testid="blocked-user"]', { hasText: cyAccount.displayName });
    await listed.waitFor();
  });

  await step('a mention notifies in a muted chat; other messages there do not; urgent ones do', async () => {
    // Notifications allowed, and recorded instead of shown.
    await bob.context.grantPermissions(['notifications'], { origin: base });
    await bob.context.addInitScript(() => {
      const Native = window.Notification;
      window.__notifications = [];
      window.Notification = class {
        static get permission() {
          return Native ? Native.permission : 'granted';
        }
        static requestPermission() {
          return Promise.resolve(this.permission);
        }
        constructor(title, options) {
          window.__notifications.push({ title, body: options?.body ?? '' });
        }
        close() {}
      };
    });
    await bob.page.goto('/');
    await groupItem(bob.page).click();
    await bob.page.getByTestId('chat-view').waitFor();
    await bob.page.getByTestId('chat-menu-button').click();
    await bob.page.getByTestId('chat-menu').waitFor();
    await screenshot(bob.page, 'chat-menu');
    await bob.page.getByTestId('chat-menu-mute-forever').click();
    await bob.page.getByTestId('chat-muted').waitFor();
    await groupItem(bob.page).locator('[data-testid="muted-icon"]').waitFor();
    assert.equal(await groupItem(bob.page).getAttribute('data-muted'), 'true');

    // Bob switches to another tab.
    await bob.page.evaluate(() => {
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
      Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    await alice.goto('/');
    await groupItem(alice).click();
    await alice.getByTestId('chat-view').waitFor();
    await send(alice, 'Plain update for the team');
    await message(bob.page, 'Plain update for the team').waitFor();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await bob.page.title(), 'Parley', 'a muted chat does not count up');
    assert.deepEqual(await bob.page.evaluate(() => window.__notifications), []);
    // The unread badge of a muted chat is the quiet grey one.
    const badge = groupItem(bob.page).getByTestId('unread-badge');
    await badge.waitFor();
    assert.match((await badge.getAttribute('class')) ?? '', /unread-badge--muted/);

    // Alice mentions Bob, picking him from the @ suggestions.
    const input = alice.getByTestId('composer-input');
    await input.fill(`@${bobAccount.username.slice(0, 4)}`);
    await alice
      .locator(`[data-testid="mention-suggestion"][data-username="${bobAccount.username}"]`)
      .waitFor();
    await input.press('Enter');
    assert.equal(await input.inputValue(), `@${bobAccount.username} `);
    await input.pressSequentially('please review the plan');
    await input.press('Enter');
    await bob.page.waitForFunction(() => document.title === '(1) Parley');
    const notes = await bob.page.evaluate(() => window.__notifications);
    assert.equal(notes.length, 1);
    assert.match(notes[0].title, new RegExp(`${renamed} mentioned you in Team ${id}`));
    const mentioned = message(bob.page, 'please review the plan');
    assert.equal(await mentioned.getAttribute('data-mentioned'), 'true');
    assert.equal(await mentioned.getByTestId('mention').getAttribute('href'), `/users/${bobId}`);

    // An urgent message notifies in the muted chat too, and stands out.
    await alice.getByTestId('priority-button').click();
    await alice.getByTestId('priority-option-urgent').click();
    await alice.getByTestId('priority-bar').waitFor();
    await send(alice, 'The build is broken');
    await bob.page.waitForFunction(() => document.title === '(2) Parley');
    const urgent = message(bob.page, 'The build is broken');
    assert.equal(await urgent.getAttribute('data-priority'), 'urgent');
    assert.equal(await urgent.getByTestId('priority-label').textContent(), '‼ Urgent');
    const titles = (await bob.page.evaluate(() => window.__notifications)).map((n) => n.title);
    assert.match(titles[1], /^Urgent: /);
    await screenshot(bob.page, 'muted-chat-mention-urgent');

    // Back on the tab: the title count resets.
    await bob.page.evaluate(() => {
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => false });
      Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'visible' });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    await bob.page.waitForFunction(() => document.title === 'Parley');
  });

  await step('an archived chat stays in Archived when a message arrives', async () => {
    await bob.page.goto(`/chats/${chatId}`);
    await bob.page.getByTestId('chat-menu-button').click();
    await bob.page.getByTestId('chat-menu-archive').click();
    await bob.page.getByTestId('chat-tab-archived').waitFor();
    assert.equal(
      await bob.page
        .locator(`[data-testid="chat-list"][data-view="main"] [data-chat-id="${chatId}"]`)
        .count(),
      0,
    );
    await bob.page.goto('/');
    await alice.goto(`/chats/${chatId}`);
    await send(alice, 'Still there in the archive?');
    await message(alice, 'Still there in the archive?').waitFor();
    await bob.page.getByTestId('chat-tab-archived').click();
    const archived = bob.page.locator(
      `[data-testid="chat-list"][data-view="archived"] [data-testid="chat-list-item"][data-chat-id="${chatId}"]`,
    );
    await archived.getByTestId('unread-badge').waitFor();
    assert.match(
      await archived.getByTestId('chat-list-item-preview').innerText(),
      /Still there in the archive/,
    );
    await bob.page.getByTestId('chat-tab-main').click();
    assert.equal(
      await bob.page.locator(`[data-testid="chat-list-item"][data-chat-id="${chatId}"]`).count(),
      0,
    );
  });

  await step('disappearing messages: turned on from the header, shown on the messages', async () => {
    await alice.getByTestId('chat-menu-button').click();
    await alice.getByTestId('chat-menu-ttl-3600').click();
    await alice.locator('[data-testid="chat-ttl"]', { hasText: '1 hour' }).waitFor();
    await alice
      .getByTestId('system-message')
      .filter({ hasText: 'turned on disappearing messages (1 hour)' })
      .waitFor();
    await send(alice, 'This one disappears');
    await message(alice, 'This one disappears').getByTestId('message-expires').waitFor();
    await bob.page.goto(`/chats/${chatId}`);
    await message(bob.page, 'This one disappears').getByTestId('message-expires').waitFor();
    await bob.page.locator('[data-testid="chat-ttl"]', { hasText: '1 hour' }).waitFor();
    await screenshot(bob.page, 'disappearing-messages');
  });

  await step(
    'search: Ctrl+K, type, arrow to a result, Enter lands on the message with the match marked',
    async () => {
      const p = bob.page;
      await p.goto('/');
      await p.getByTestId('home-page').waitFor();
      await p.keyboard.press('Control+k');
      const input = p.getByTestId('search-input');
      assert.equal(await input.evaluate((el) => el === document.activeElement), true);
      // "13" is a word start: Backlog message 13 and 130…139, from Alice's backlog above.
      await input.fill('backlog 13');
      const hits = p.getByTestId('search-hit');
      await p.locator('[data-testid="search-hit"]', { hasText: 'Backlog message 139' }).waitFor();
      assert.equal(await hits.count(), 11);
      assert.equal(await p.getByTestId('search-group').count(), 1);
      assert.equal(await hits.nth(0).locator('mark').first().innerText(), 'Backlog');
      await screenshot(p, 'search-results');
      await p.keyboard.press('ArrowDown');
      await p.keyboard.press('ArrowDown');
      const chosen = hits.nth(2);
      assert.equal(await chosen.getAttribute('aria-selected'), 'true');
      const messageId = await chosen.getAttribute('data-message-id');
      const chosenText = (await chosen.getByTestId('search-snippet').innerText()).trim();
      await p.keyboard.press('Enter');
      await p.waitForURL(`**/chats/${chatId}/messages/${messageId}`);
      const landed = p.locator(`[data-testid="message"][data-message-id="${messageId}"]`);
      await landed.waitFor();
      assert.match(await landed.getAttribute('class'), /message--highlight/);
      assert.equal(await landed.getByTestId('message-body').innerText(), chosenText);
      assert.deepEqual(await landed.locator('mark').allInnerTexts(), ['Backlog', '13']);
      await screenshot(p, 'search-landed');
      // Phone width: the panel fits the screen.
      await p.setViewportSize({ width: 390, height: 800 });
      await p.keyboard.press('Control+k');
      await input.fill('backlog 21');
      await p.locator('[data-testid="search-hit"]', { hasText: 'Backlog message 210' }).waitFor();
      const box = await p.getByTestId('search-panel').boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= 390, `panel within 390 px: ${JSON.stringify(box)}`);
      const field = await input.boundingBox();
      assert.ok(field && field.width >= 200, `search field usable at 390 px: ${JSON.stringify(field)}`);
      const pageWidth = await p.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(pageWidth <= 390, `no horizontal overflow at 390 px: the page is ${pageWidth} px wide`);
      await screenshot(p, 'search-phone');
      await p.keyboard.press('Escape');
      await p.setViewportSize({ width: 1200, height: 800 });
    },
  );

  await step(
    'search: the Files tab finds a file by a piece of its name; a typo still finds words',
    async () => {
      const p = bob.page;
      await p.goto('/');
      await p.keyboard.press('Control+k');
      const input = p.getByTestId('search-input');
      await input.fill('build.lo');
      await p.getByTestId('search-tab-files').click();
      const hit = p.locator('[data-testid="search-hit"][data-file-id]', { hasText: 'build.log' });
      await hit.waitFor();
      assert.equal(await hit.locator('mark').first().innerText(), 'build.lo');
      await screenshot(p, 'search-files');
      await hit.click();
      await p.waitForURL(`**/chats/${chatId}/messages/*`);
      await p.locator('[data-testid="file-card"]', { hasText: 'build.log' }).waitFor();
      // Back to messages: one wrong letter, and the panel says the results are similar words.
      await p.keyboard.press('Control+k');
      await input.fill('Backlig');
      await p.getByTestId('search-tab-messages').click();
      await p.getByTestId('search-approximate').waitFor();
      await p.locator('[data-testid="search-hit"]', { hasText: 'Backlog message' }).first().waitFor();
      await screenshot(p, 'search-typo');
      await p.keyboard.press('Escape');
    },
  );

  await step('search: the Pictures tab finds a pasted picture by the text in it (OCR)', async () => {
    // The picture Alice pasted says "Parley": the server reads it in the background.
    const p = bob.page;
    await p.goto('/');
    await p.keyboard.press('Control+k');
    const input = p.getByTestId('search-input');
    await input.fill('parley');
    await p.getByTestId('search-tab-media').click();
    const hit = p.locator('[data-testid="search-hit"]', { has: p.getByTestId('search-image') });
    // Until the picture has been read, ask again now and then (a new query each time).
    await until(async () => {
      if (await hit.count()) return true;
      await input.fill('parle');
      await input.fill('parley');
      await p.waitForTimeout(1000);
      return (await hit.count()) > 0;
    }, 'the picture is found by the text in it');
    const text = hit.first().getByTestId('search-image-text');
    assert.match(await text.innerText(), /parley/i);
    assert.match(await text.locator('mark').first().innerText(), /^parley$/i);
    assert.equal(await hit.first().locator('img.search__thumb').count(), 1, 'the hit shows the thumbnail');
    await screenshot(p, 'search-pictures');
    await hit.first().click();
    await p.waitForURL(`**/chats/${chatId}/messages/*`);
    await pictureTile(p).first().waitFor();
    await p.keyboard.press('Escape');
  });

  // ---- Phone and tablet widths: every page fits, controls keep apart, the menus fold ------
  /** Boxes of the visible elements matching `controls` that cover one matching `texts`. */
  const overlapping = (p, controls, texts) =>
    p.evaluate(
      ([controls, texts]) => {
        // The part of the element one can see: cut by every ancestor that clips.
        const shown = (el) => {
          if (!el.checkVisibility({ opacityProperty: true, visibilityProperty: true })) return null;
          const r = el.getBoundingClientRect();
          let [left, top, right, bottom] = [r.left, r.top, r.right, r.bottom];
          for (let a = el.parentElement; a; a = a.parentElement) {
            const style = getComputedStyle(a);
            if (style.clipPath !== 'none' && style.clipPath.startsWith('inset(50%')) return null;
            if (style.overflowX === 'visible' && style.overflowY === 'visible') continue;
            const c = a.getBoundingClientRect();
            [left, top, right, bottom] = [
              Math.max(left, c.left),
              Math.max(top, c.top),
              Math.min(right, c.right),
              Math.min(bottom, c.bottom),
            ];
          }
          return right - left > 2 && bottom - top > 2 ? { left, top, right, bottom } : null;
        };
        const boxes = (sel) =>
          [...document.querySelectorAll(sel)].map((el) => [el, shown(el)]).filter(([, r]) => r);
        const hits = [];
        for (const [c, a] of boxes(controls))
          for (const [t, b] of boxes(texts))
            if (
              !c.contains(t) &&
              !t.contains(c) &&
              a.left < b.right &&
              b.left < a.right &&
              a.top < b.bottom &&
              b.top < a.bottom
            )
              hits.push(
                `${c.getAttribute('data-testid') ?? c.className} over ${t.getAttribute('data-testid') ?? t.className}`,
              );
        return hits;
      },
      [controls, texts],
    );
  const noOverlap = async (p, controls, texts, what) => {
    assert.deepEqual(await overlapping(p, controls, texts), [], `${what}: no control covers the text`);
  };
  /** Within the window, side to side. */
  const fits = async (locator, what) => {
    const box = await boxOf(locator);
    const width = locator.page().viewportSize()?.width ?? 0;
    assert.ok(
      box && box.x >= 0 && box.x + box.width <= width + 0.5,
      `${what} within ${width} px: ${JSON.stringify(box)}`,
    );
  };
  const HEADER_CONTROLS = '.chat-header button, .chat-header__back, .chat-header .avatar';

  await step(
    "at 360, 390 and 768 px: nothing scrolls sideways, controls keep off the text, a tap opens a message's actions, Log out is in the menu",
    async () => {
      // A phone: touch, no hover.
      const context = await browser.newContext({
        baseURL: base,
        viewport: { width: 390, height: 800 },
        hasTouch: true,
        isMobile: true,
      });
      context.setDefaultTimeout(STEP_TIMEOUT_MS);
      cleanups.push(() => context.close());
      const p = await context.newPage();
      p.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
      const widths = [360, 390, 768];

      await p.goto('/login');
      for (const width of widths) {
        await p.setViewportSize({ width, height: 800 });
        await p.getByLabel('Username or email').waitFor();
        await noOverflow(p, `sign-in at ${width}`);
      }
      await screenshot(p, 'sign-in-768');
      await p.setViewportSize({ width: 390, height: 800 });
      await p.getByLabel('Username or email').fill(account.username);
      await p.getByLabel('Password').fill(account.password);
      await p.getByRole('button', { name: 'Sign in' }).click();
      await p.getByTestId('chat-screen').waitFor();

      // A group with a long name, made here at phone width.
      const longName = `Quarterly planning, roadmap and budget review ${id}`;
      await p.getByTestId('new-group-button').click();
      const newGroup = p.getByTestId('new-group-dialog');
      await newGroup.getByLabel('Name').fill(longName);
      await newGroup.getByTestId('user-search-input').fill(bobAccount.username);
      await newGroup.getByTestId('user-search-result').first().click();
      await newGroup.getByTestId('picked-member').waitFor();
      await noOverflow(p, 'new group dialog at 390');
      await fits(newGroup, 'new group dialog');
      await screenshot(p, 'new-group-390');
      await newGroup.getByTestId('create-group-button').click();
      await p.getByTestId('chat-view').waitFor();
      const groupId = await p.getByTestId('chat-view').getAttribute('data-chat-id');
      await send(p, 'Long names should not push the buttons off the screen');
      await message(p, 'Long names should not').waitFor();

      for (const width of widths) {
        await p.setViewportSize({ width, height: 800 });
        const narrow = width <= 720;

        // The chat list, and one pane at a time on a narrow screen.
        await p.goto('/');
        await p.getByTestId('chat-list-item').first().waitFor();
        await noOverflow(p, `chat list at ${width}`);
        if (narrow) assert.equal(await p.locator('.chat-pane').isVisible(), false, 'list alone at first');

        // A direct chat: header, messages with reactions and a reply, the composer.
        await p.goto(`/chats/${chatId}`);
        const latest = p
          .locator('[data-testid="message"][data-message-id]:has([data-testid="message-body"])')
          .last();
        await latest.waitFor();
        await noOverflow(p, `direct chat at ${width}`);
        await noOverlap(p, HEADER_CONTROLS, '[data-testid="chat-title"]', `direct chat header at ${width}`);
        if (narrow) {
          assert.equal(await p.getByTestId('chat-list').isVisible(), false, 'the chat alone');
          assert.equal(await p.getByTestId('back-to-chats').isVisible(), true, 'with a way back');
        }
        // Whatever the toolbar shows (hovered at 768 if this screen hovers) keeps off the text.
        await latest.getByTestId('message-body').hover();
        await noOverlap(
          p,
          '.message__tools button',
          '[data-testid="message-body"], [data-testid="reply-quote"], .message__meta',
          `message actions at ${width}`,
        );
        await screenshot(p, `direct-chat-${width}`);

        // The group with the long name: it gets the room, the buttons stay whole.
        await p.goto(`/chats/${groupId}`);
        const title = p.getByTestId('chat-title');
        await title.waitFor();
        await noOverflow(p, `group chat at ${width}`);
        await noOverlap(p, HEADER_CONTROLS, '[data-testid="chat-title"]', `group header at ${width}`);
        const titleBox = await boxOf(title);
        const header = await boxOf(p.locator('.chat-header'));
        assert.ok(
          titleBox.width >= Math.min(header.width * 0.4, 300),
          `the name has room at ${width}: ${titleBox.width} of ${header.width} px`,
        );
        for (const control of ['search-in-chat', 'group-settings-button', 'chat-menu-button']) {
          await fits(p.getByTestId(control), `${control} at ${width}`);
        }
        await screenshot(p, `group-chat-${width}`);
        await p.getByTestId('group-settings-button').click();
        const settings = p.getByTestId('group-settings');
        await settings.waitFor();
        await noOverflow(p, `group settings at ${width}`);
        await fits(settings, `group settings at ${width}`);
        if (width === 360) await screenshot(p, 'group-settings-360');
        await p.keyboard.press('Escape');
        await settings.waitFor({ state: 'detached' });

        // New chat and new group dialogs.
        await p.goto('/');
        for (const [button, dialog] of [
          ['new-chat-button', 'new-chat-dialog'],
          ['new-group-button', 'new-group-dialog'],
        ]) {
          await p.getByTestId(button).click();
          await p.getByTestId(dialog).waitFor();
          await noOverflow(p, `${dialog} at ${width}`);
          await fits(p.getByTestId(dialog), `${dialog} at ${width}`);
          await p.keyboard.press('Escape');
          await p.getByTestId(dialog).waitFor({ state: 'detached' });
        }

        // Contacts, profile settings.
        await p.goto('/contacts');
        await p.getByTestId('contacts-page').waitFor();
        await noOverflow(p, `contacts at ${width}`);
        if (width === 360) await screenshot(p, 'contacts-360');
        await p.goto('/settings/profile');
        await p.getByTestId('profile-form').waitFor();
        await noOverflow(p, `profile settings at ${width}`);

        // The search panel.
        await p.getByTestId('search-input').fill('backlog 21');
        await p.locator('[data-testid="search-hit"]', { hasText: 'Backlog message 210' }).waitFor();
        await noOverflow(p, `search at ${width}`);
        await fits(p.getByTestId('search-panel'), `search panel at ${width}`);
        if (width === 360) await screenshot(p, 'search-360');
        await p.keyboard.press('Escape');
        await p.getByTestId('search-input').fill('');

        // The navigation: in the bar when there is room (over 960 px), behind the menu button
        // when not.
        const logOut = p.getByRole('button', { name: 'Log out' });
        assert.equal(await p.getByTestId('nav-menu-button').isVisible(), true);
        assert.equal(await logOut.isVisible(), false);
        await p.getByTestId('nav-menu-button').click();
        await logOut.waitFor();
        await fits(logOut, `Log out at ${width}`);
        await fits(p.getByTestId('nav-contacts'), `Contacts link at ${width}`);
        await noOverflow(p, `open menu at ${width}`);
        await screenshot(p, `nav-menu-${width}`);
        // Escape folds it away again; a link in it goes there and folds it too.
        await p.keyboard.press('Escape');
        await logOut.waitFor({ state: 'hidden' });
        await p.getByTestId('nav-menu-button').click();
        await p.getByTestId('nav-contacts').click();
        await p.getByTestId('contacts-page').waitFor();
        await logOut.waitFor({ state: 'hidden' });
      }

      // A wide window has the links and Log out in the bar.
      await p.setViewportSize({ width: 1200, height: 800 });
      await p.getByRole('button', { name: 'Log out' }).waitFor();
      assert.equal(await p.getByTestId('nav-menu-button').isVisible(), false);

      // Phone width: a tap on a message opens its actions as a sheet; a reaction from there.
      await p.setViewportSize({ width: 390, height: 800 });
      await p.goto(`/chats/${groupId}`);
      const mine = message(p, 'Long names should not');
      await mine.getByTestId('message-body').tap();
      const sheet = p.getByTestId('message-sheet');
      await sheet.waitFor();
      await fits(sheet, 'action sheet');
      await noOverflow(p, 'action sheet');
      await screenshot(p, 'message-sheet-390');
      await sheet.locator('[data-testid="reaction-option"][data-emoji="🎉"]').tap();
      await sheet.waitFor({ state: 'detached' });
      await mine.locator('[data-testid="reaction-chip"][data-emoji="🎉"][data-count="1"]').waitFor();
      // A finger held on the message opens it too: Reply.
      const cdp = await context.newCDPSession(p);
      const held = await boxOf(mine.getByTestId('message-body'));
      const finger = { x: held.x + held.width / 2, y: held.y + held.height / 2 };
      await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [finger] });
      await sheet.waitFor();
      await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
      await sheet.getByTestId('menu-reply-button').tap();
      await p.getByTestId('reply-bar').waitFor();
      await noOverflow(p, 'replying at 390');
      // A tap on a link or a reaction in a message is that control's, not the sheet's.
      await mine.getByTestId('reaction-chip').tap();
      await mine.getByTestId('reaction-chip').waitFor({ state: 'detached' });
      assert.equal(await sheet.count(), 0, 'a tap on a reaction does not open the sheet');

      // A wide window with a mouse: the toolbar shows on hover, beside the bubble, not on it.
      await alice.goto(`/chats/${chatId}`);
      const hovered = alice
        .locator('[data-testid="message"][data-message-id]:has([data-testid="message-body"])')
        .last();
      await hovered.getByTestId('message-body').hover();
      await hovered.getByTestId('message-menu-button').waitFor({ state: 'visible' });
      await alice.waitForFunction(
        (el) => getComputedStyle(el).opacity === '1',
        await hovered.locator('.message__tools').elementHandle(),
      );
      await noOverlap(
        alice,
        '.message__tools button',
        '[data-testid="message-body"], .message__meta, .message__bubble',
        'message actions at 1200',
      );
      await hovered.getByTestId('message-menu-button').click();
      await alice.getByTestId('message-menu').waitFor();
      await screenshot(alice, 'message-tools-1200');
      await alice.keyboard.press('Escape');
      await alice.getByTestId('message-menu').waitFor({ state: 'detached' });
      // Escape closed the menu; focus goes back to its button (a tick after it goes).
      await alice.waitForFunction(
        () => document.activeElement?.getAttribute('data-testid') === 'message-menu-button',
      );

      // Log out through the folded menu.
      await p.getByTestId('nav-menu-button').click();
      await p.getByRole('button', { name: 'Log out' }).click();
      await p.waitForURL('**/login');
      await noOverflow(p, 'signed out at 390');
    },
  );

  await step('with S3 storage a large file goes from the browser straight to the bucket', async () => {
    // s3rver (the S3-compatible endpoint the backend tests use), with CORS for the web app as
    // a bucket needs it for direct uploads (specs/deploy.md), and a second server stored there.
    const { default: S3rver } = await import('s3rver');
    const s3Dir = mkdtempSync(path.join(os.tmpdir(), 'parley-e2e-s3-'));
    cleanups.push(() => rmSync(s3Dir, { recursive: true, force: true }));
    const bucket = 'parley-e2e';
    const cors =
      '<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>PUT</AllowedMethod>' +
      '<AllowedHeader>*</AllowedHeader></CORSRule></CORSConfiguration>';
    const s3 = new S3rver({
      port: 0,
      address: '127.0.0.1',
      silent: true,
      directory: s3Dir,
      configureBuckets: [{ name: bucket, configs: [cors] }],
    });
    const { port: s3Port } = await s3.run();
    cleanups.push(() => s3.close());
    const s3DataDir = mkdtempSync(path.join(os.tmpdir(), 'parley-e2e-'));
    cleanups.push(() => rmSync(s3DataDir, { recursive: true, force: true }));
    const { base: s3Base } = await startServer({
      port: await freePort(),
      dataDir: s3DataDir,
      databaseUrl: await freshDatabase('parley_e2e_s3', cleanups),
      env: {
        ...serverEnv,
        S3_ENDPOINT: `http://127.0.0.1:${s3Port}`,
        S3_BUCKET: bucket,
        S3_ACCESS_KEY: 'S3RVER',
        S3_SECRET_KEY: 'S3RVER',
      },
      cleanups,
      startTimeoutMs: SERVER_START_TIMEOUT_MS,
    });
    const dana = {
      ...cyAccount,
      username: `dana_${id}`,
      email: `dana_${id}@example.test`,
      displayName: `Dana ${id}`,
    };
    const registered = await fetch(`${s3Base}/api/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(dana),
    });
    assert.equal(registered.status, 201);
    const { accessToken } = await registered.json();
    const created = await fetch(`${s3Base}/api/chats/group`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${accessToken}` },
      body: JSON.stringify({ name: 'Builds', memberIds: [] }),
    });
    assert.equal(created.status, 201);
    const group = await created.json();

    const context = await browser.newContext({ baseURL: s3Base, viewport: { width: 1200, height: 800 } });
    context.setDefaultTimeout(STEP_TIMEOUT_MS);
    cleanups.push(() => context.close());
    const p = await context.newPage();
    await p.goto('/login');
    await p.getByLabel('Username or email').fill(dana.username);
    await p.getByLabel('Password').fill(dana.password);
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.getByTestId('home-page').waitFor();
    await p.goto(`/chats/${group.id}`);
    const puts = await bigUpload(p, 'bucket.log');
    assert.equal(puts.length, 1, `one PUT: ${puts.join(', ')}`);
    assert.equal(new URL(puts[0]).origin, `http://127.0.0.1:${s3Port}`, 'the bytes went to the bucket');
    const card = p.locator('[data-testid="file-card"][data-status="ready"]', { hasText: 'bucket.log' });
    await card.waitFor();
    const [download] = await Promise.all([
      p.waitForEvent('download'),
      card.getByTestId('file-card-download').click(),
    ]);
    assert.ok(readFileSync(await download.path()).equals(bigLog), 'the download is the file as sent');
    await screenshot(p, 's3-direct-upload');
  });

  await step('no uncaught errors in the page', async () => {
    assert.deepEqual(
      [...problems, ...bob.problems, ...cy.problems].filter((p) => p.startsWith('pageerror')),
      [],
    );
  });

  console.log(`took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  console.log(`${passed} passed, ${failed} failed`);
  if (failed > 0) {
    const tail = output.join('').trim();
    if (tail) console.log(`--- server output (last lines) ---\n${tail.split('\n').slice(-30).join('\n')}`);
  }
  return failed === 0;
}

let ok = false;
try {
  ok = await main();
} catch (err) {
  console.error(`e2e: ${err instanceof Error ? err.message : err}`);
  console.log('0 passed, 1 failed');
} finally {
  await cleanup();
}
process.exit(ok ? 0 : 1);

import { useState } from 'react';
import { notificationsSupported } from '../messaging/notifications';

/** "Not now" is remembered in this browser for this long, across navigation and reloads. */
export const PROMPT_SNOOZE_MS = 30 * 24 * 60 * 60 * 1000;
const SNOOZE_KEY = 'parley.notificationPrompt.snoozedAt';

function snoozed(now = Date.now()): boolean {
  try {
    const at = Number(localStorage.getItem(SNOOZE_KEY));
    return Number.isFinite(at) && at > 0 && now - at < PROMPT_SNOOZE_MS;
  } catch {
    return false;
  }
}

function snooze(): void {
  try {
    localStorage.setItem(SNOOZE_KEY, String(Date.now()));
  } catch {
    // Storage off (private mode): "Not now" lasts until the page is reloaded.
  }
}

/** Asks for notification permission only when the user presses the button. */
export function NotificationPrompt() {
  const [permission, setPermission] = useState(() =>
    notificationsSupported() ? Notification.permission : 'unsupported',
  );
  const [dismissed, setDismissed] = useState(snoozed);
  if (permission !== 'default' || dismissed) return null;
  return (
    <div className="notify-prompt" data-testid="notification-prompt">
      <span>Get notified of new messages while Parley is in the background.</span>
      <span className="notify-prompt__actions">
        <button
          type="button"
          className="button button--primary button--small"
          data-testid="enable-notifications-button"
          onClick={() => {
            void Notification.requestPermission().then(setPermission, () => setDismissed(true));
          }}
        >
          Enable
        </button>
        <button
          type="button"
          className="button button--ghost button--small"
          data-testid="notifications-not-now"
          onClick={() => {
            snooze();
            setDismissed(true);
          }}
        >
          Not now
        </button>
      </span>
    </div>
  );
}

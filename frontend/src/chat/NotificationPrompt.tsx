import { useState } from 'react';
import { notificationsSupported } from '../messaging/notifications';

/** Asks for notification permission only when the user presses the button. */
export function NotificationPrompt() {
  const [permission, setPermission] = useState(() =>
    notificationsSupported() ? Notification.permission : 'unsupported',
  );
  const [dismissed, setDismissed] = useState(false);
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
          onClick={() => setDismissed(true)}
        >
          Not now
        </button>
      </span>
    </div>
  );
}

import { ChatIcon } from '../components/ChatIcon';
import { useParams } from 'react-router-dom';

/** Deep links land here until the chat view exists; it says which chat was asked for. */
export function ChatPlaceholderPage() {
  const { chatId, messageId } = useParams();
  return (
    <div className="page">
      <section className="card empty-state" data-testid="chat-placeholder" data-chat-id={chatId}>
        <ChatIcon />
        <h1>
          Chat <code data-testid="chat-id">{chatId}</code>
        </h1>
        {messageId && (
          <p>
            Link to message <code data-testid="message-id">{messageId}</code>
          </p>
        )}
        <p className="muted">Conversations are not available yet. This chat will open here once they are.</p>
      </section>
    </div>
  );
}

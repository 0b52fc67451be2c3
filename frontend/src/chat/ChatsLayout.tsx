import { Outlet, useMatch, useParams } from 'react-router-dom';
import { ChatList } from './ChatList';
import { ChatView } from './ChatView';
import { Toast } from './toast';

/** The signed-in home: chat list on the left, the open chat (or a welcome) on the right. */
export function ChatsLayout() {
  const match = useMatch({ path: '/chats/:chatId', end: false });
  const chatId = match?.params.chatId ?? null;
  return (
    <div className={`chat-screen${chatId ? ' chat-screen--open' : ''}`} data-testid="chat-screen">
      <ChatList activeChatId={chatId} />
      <section className="chat-pane">
        <Outlet />
      </section>
      <Toast />
    </div>
  );
}

/** Route element of /chats/:chatId and /chats/:chatId/messages/:messageId. */
export function ChatPage() {
  const { chatId = '', messageId } = useParams();
  return <ChatView key={chatId} chatId={chatId} focusMessageId={messageId ?? null} />;
}

import type { RouteObject } from 'react-router-dom';
import { RedirectIfSignedIn, RequireAuth } from './auth/RequireAuth';
import { ChatPage, ChatsLayout } from './chat/ChatsLayout';
import { AppLayout } from './pages/AppLayout';
import { HomePage } from './pages/HomePage';
import { LoginPage } from './pages/LoginPage';
import { NotFoundPage } from './pages/NotFoundPage';
import { ProfilePage } from './pages/ProfilePage';
import { RegisterPage } from './pages/RegisterPage';
import { SessionsPage } from './pages/SessionsPage';
import { ContactsPage } from './people/ContactsPage';
import { UserProfilePage } from './people/UserProfilePage';

export const routes: RouteObject[] = [
  {
    path: '/login',
    element: (
      <RedirectIfSignedIn>
        <LoginPage />
      </RedirectIfSignedIn>
    ),
  },
  {
    path: '/register',
    element: (
      <RedirectIfSignedIn>
        <RegisterPage />
      </RedirectIfSignedIn>
    ),
  },
  {
    element: (
      <RequireAuth>
        <AppLayout />
      </RequireAuth>
    ),
    children: [
      {
        element: <ChatsLayout />,
        children: [
          { index: true, element: <HomePage /> },
          { path: 'chats/:chatId', element: <ChatPage /> },
          { path: 'chats/:chatId/messages/:messageId', element: <ChatPage /> },
        ],
      },
      { path: 'contacts', element: <ContactsPage /> },
      { path: 'users/:userId', element: <UserProfilePage /> },
      { path: 'settings/profile', element: <ProfilePage /> },
      { path: 'settings/sessions', element: <SessionsPage /> },
    ],
  },
  { path: '*', element: <NotFoundPage /> },
];

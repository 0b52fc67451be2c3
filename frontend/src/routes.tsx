import type { RouteObject } from 'react-router-dom';
import { RedirectIfSignedIn, RequireAuth } from './auth/RequireAuth';
import { AppLayout } from './pages/AppLayout';
import { ChatPlaceholderPage } from './pages/ChatPlaceholderPage';
import { HomePage } from './pages/HomePage';
import { LoginPage } from './pages/LoginPage';
import { NotFoundPage } from './pages/NotFoundPage';
import { ProfilePage } from './pages/ProfilePage';
import { RegisterPage } from './pages/RegisterPage';
import { SessionsPage } from './pages/SessionsPage';

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
      { index: true, element: <HomePage /> },
      { path: 'settings/profile', element: <ProfilePage /> },
      { path: 'settings/sessions', element: <SessionsPage /> },
      { path: 'chats/:chatId', element: <ChatPlaceholderPage /> },
      { path: 'chats/:chatId/messages/:messageId', element: <ChatPlaceholderPage /> },
    ],
  },
  { path: '*', element: <NotFoundPage /> },
];

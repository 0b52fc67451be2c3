/**
 * The app's routes. Each screen's code is its own chunk, loaded when a route needs it: the
 * sign-in pages do not load the chat app, and the chat screen does not load contacts,
 * profiles or settings. The router starts loading a route's chunk as navigation begins,
 * beside the silent sign-in.
 */
import { Outlet, type RouteObject } from 'react-router-dom';
import { RedirectIfSignedIn, RequireAuth } from './auth/RequireAuth';
import { FullPageSpinner } from './components/Spinner';

export const routes: RouteObject[] = [
  {
    // Shown while the first screen's chunk loads.
    HydrateFallback: FullPageSpinner,
    children: [
      {
        path: '/login',
        lazy: async () => {
          const { LoginPage } = await import('./pages/LoginPage');
          return {
            element: (
              <RedirectIfSignedIn>
                <LoginPage />
              </RedirectIfSignedIn>
            ),
          };
        },
      },
      {
        path: '/register',
        lazy: async () => {
          const { RegisterPage } = await import('./pages/RegisterPage');
          return {
            element: (
              <RedirectIfSignedIn>
                <RegisterPage />
              </RedirectIfSignedIn>
            ),
          };
        },
      },
      {
        element: (
          <RequireAuth>
            <Outlet />
          </RequireAuth>
        ),
        children: [
          {
            // The layout and the chat screen are one chunk: they are the first screen.
            lazy: async () => ({ Component: (await import('./pages/AppLayout')).AppLayout }),
            children: [
              {
                lazy: async () => ({ Component: (await import('./chat/ChatsLayout')).ChatsLayout }),
                children: [
                  {
                    index: true,
                    lazy: async () => ({ Component: (await import('./pages/HomePage')).HomePage }),
                  },
                  { path: 'chats/:chatId', lazy: chatPage },
                  { path: 'chats/:chatId/messages/:messageId', lazy: chatPage },
                ],
              },
              {
                path: 'contacts',
                lazy: async () => ({ Component: (await import('./people/ContactsPage')).ContactsPage }),
              },
              {
                path: 'users/:userId',
                lazy: async () => ({ Component: (await import('./people/UserProfilePage')).UserProfilePage }),
              },
              {
                path: 'settings/profile',
                lazy: async () => ({ Component: (await import('./pages/ProfilePage')).ProfilePage }),
              },
              {
                path: 'settings/sessions',
                lazy: async () => ({ Component: (await import('./pages/SessionsPage')).SessionsPage }),
              },
            ],
          },
        ],
      },
      {
        path: '*',
        lazy: async () => ({ Component: (await import('./pages/NotFoundPage')).NotFoundPage }),
      },
    ],
  },
];

async function chatPage() {
  return { Component: (await import('./chat/ChatsLayout')).ChatPage };
}

/**
 * The app's routes. Each screen's code is its own chunk, loaded when a route needs it: the
 * sign-in pages do not load the chat app, and the chat screen does not load contacts,
 * profiles or settings. The router starts loading a route's chunk as navigation begins,
 * beside the silent sign-in.
 */
import type { ComponentType } from 'react';
import { Outlet, type RouteObject } from 'react-router-dom';
import { RedirectIfSignedIn, RequireAuth } from './auth/RequireAuth';
import { FullPageSpinner } from './components/Spinner';

export const routes: RouteObject[] = [
  {
    // Shown while the first screen's chunk loads.
    HydrateFallback: FullPageSpinner,
    children: [
      signInRoute('/login', async () => (await import('./pages/LoginPage')).LoginPage),
      signInRoute('/register', async () => (await import('./pages/RegisterPage')).RegisterPage),
      {
        element: (
          <RequireAuth>
            <Outlet />
          </RequireAuth>
        ),
        children: [
          {
            // The layout and the chat screen (the first screen): the router loads the
            // chunks of every route a URL matches at once.
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

/** A sign-in page: nothing to do there once signed in. */
function signInRoute(path: string, load: () => Promise<ComponentType>): RouteObject {
  return {
    path,
    lazy: async () => {
      const Page = await load();
      return {
        element: (
          <RedirectIfSignedIn>
            <Page />
          </RedirectIfSignedIn>
        ),
      };
    },
  };
}

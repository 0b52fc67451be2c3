/**
 * The contract's REST routes and WebSocket commands as lists, for the tests that walk them
 * all (contract hygiene, fuzzing).
 */
import { contract } from '@parley/contracts';
import { isAppRoute, type AppRoute, type AppRouter } from '@ts-rest/core';
import { z } from 'zod';

/** Every route of a ts-rest router, named by its dotted key ("chats.addMembers"). */
export function routesOf(router: AppRouter = contract, prefix = ''): [string, AppRoute][] {
  return Object.entries(router).flatMap(([key, value]) =>
    isAppRoute(value)
      ? [[`${prefix}${key}`, value] as [string, AppRoute]]
      : routesOf(value as AppRouter, `${prefix}${key}.`),
  );
}

/** A route's body schema, or undefined for GET and for c.noBody() (a symbol, not a zod schema). */
export function bodySchemaOf(route: AppRoute): z.ZodTypeAny | undefined {
  if (route.method === 'GET' || !('body' in route)) return undefined;
  return route.body instanceof z.ZodType ? route.body : undefined;
}

/** The zod schema of a route's query or path parameters, if it has one. */
export function querySchemaOf(route: AppRoute): z.ZodTypeAny | undefined {
  return route.query instanceof z.ZodType ? route.query : undefined;
}

export function pathParamsSchemaOf(route: AppRoute): z.ZodTypeAny | undefined {
  return route.pathParams instanceof z.ZodType ? route.pathParams : undefined;
}

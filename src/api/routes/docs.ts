/** `/openapi.json` and `/docs`: the API's description and its page. Public, like the code. */
import { DOCS_HTML } from '../openapi';
import { routeSpecs } from '../routeSpec';

export const docsRoutes = routeSpecs<{ openApi: () => unknown }>([
  {
    method: 'get',
    path: '/openapi.json',
    summary: 'This document',
    tag: 'operations',
    role: 'none',
    errors: [],
    handle: (deps, _req, res) => void res.json(deps.openApi()),
  },
  {
    method: 'get',
    path: '/docs',
    summary: 'This document, readable',
    tag: 'operations',
    role: 'none',
    responseType: 'text/html',
    handle: (_deps, _req, res) => void res.type('html').send(DOCS_HTML),
  },
]);

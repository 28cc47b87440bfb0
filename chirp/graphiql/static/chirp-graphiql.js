// Starts GraphiQL on Chirp's /graphql page. A file of its own, not an inline
// script, because the page's Content-Security-Policy allows scripts from
// 'self' only. Uses the globals of the vendored UMD builds: React, ReactDOM
// and GraphiQL (which carries createFetcher and its own copy of graphql-js).
(function () {
  "use strict";

  // The default tab on a fresh browser: public fields, so it shows something
  // without an account, and how to get and send a token.
  const DEFAULT_QUERY = `# Welcome to Chirp's GraphQL API.
#
# Run this with ▶ or Ctrl-Enter: it needs no account.
# The book icon, top left, opens the Docs.
#
# To act as a user, sign up (or logIn) in a new tab:
#
#   mutation {
#     signUp(handle: "your_handle",
#            password: "8 characters or more") {
#       token
#     }
#   }
#
# and put the token in the Headers tab below:
#
#   {"Authorization": "Bearer <token>"}
#
# It goes with queries, mutations and subscriptions
# (in the websocket's connection_init), such as
#   subscription { homeFeed { text author { handle } } }

query Welcome {
  viewer {
    handle
  }
  trends(window: HOUR, first: 10) {
    hashtag
    score
    tweetCount
  }
}
`;

  // This page is served by the GraphQL endpoint itself (GET /graphql from a
  // browser), so the endpoint is this page's path, over HTTP and websockets.
  const endpoint = new URL(window.location.pathname, window.location.href);
  const httpUrl = endpoint.href;
  const wsUrl = httpUrl.replace(/^http/, "ws");

  // Queries and mutations: POST with the Headers tab's headers as they are.
  const httpFetcher = GraphiQL.createFetcher({ url: httpUrl });

  /** The Authorization value among the Headers tab's headers (any case), or null. */
  function authorizationOf(headers) {
    for (const [name, value] of Object.entries(headers || {})) {
      if (name.toLowerCase() === "authorization") return String(value);
    }
    return null;
  }

  /** Whether the operation to run is a subscription (GraphiQL passes the parsed document). */
  function isSubscription(params, opts) {
    const ast = opts && opts.documentAST;
    if (!ast) return false;
    const operation = GraphiQL.GraphQL.getOperationAST(ast, params.operationName || undefined);
    return Boolean(operation) && operation.operation === "subscription";
  }

  // Websockets carry no headers: Chirp reads the token from the
  // connection_init payload, {"authorization": "Bearer <token>"}. So each
  // subscription gets a graphql-transport-ws client whose connectionParams
  // come from the Headers tab as it is when the subscription starts.
  function fetcher(params, opts) {
    if (!isSubscription(params, opts)) return httpFetcher(params, opts);
    const authorization = authorizationOf(opts.headers);
    const wsFetcher = GraphiQL.createFetcher({
      url: httpUrl,
      subscriptionUrl: wsUrl,
      wsConnectionParams: authorization === null ? {} : { authorization },
    });
    // Without headers here: the toolkit would merge them into connectionParams.
    return wsFetcher(params, { ...opts, headers: {} });
  }

  // Shareable links: the editors' contents live in the URL's fragment, which
  // never reaches the server (GET /graphql?query=... runs the query instead of
  // serving this page) and so never lands in access logs. Headers are left
  // out on purpose: they hold tokens.
  const SHARED = ["query", "variables", "operationName"];
  const shared = new URLSearchParams(window.location.hash.slice(1));

  // Browsers limit how often history may change (Safari throws past 100
  // calls in 30 s), so the fragment follows the editors after a pause.
  const SHARE_DELAY_MS = 300;
  const pending = new Map();
  let timer = null;

  function share(name, value) {
    pending.set(name, value);
    window.clearTimeout(timer);
    timer = window.setTimeout(() => {
      const fragment = new URLSearchParams(window.location.hash.slice(1));
      for (const [key, text] of pending) {
        if (text && text !== DEFAULT_QUERY) fragment.set(key, text);
        else fragment.delete(key);
      }
      pending.clear();
      const hash = fragment.toString();
      const { pathname, search } = window.location;
      window.history.replaceState(null, "", `${pathname}${search}${hash ? `#${hash}` : ""}`);
    }, SHARE_DELAY_MS);
  }

  const props = {
    fetcher,
    defaultQuery: DEFAULT_QUERY,
    defaultEditorToolsVisibility: true,
    onEditQuery: (value) => share("query", value),
    onEditVariables: (value) => share("variables", value),
    onEditOperationName: (value) => share("operationName", value),
  };
  for (const name of SHARED) {
    if (shared.has(name)) props[name] = shared.get(name);
  }

  const root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(GraphiQL, props));
})();

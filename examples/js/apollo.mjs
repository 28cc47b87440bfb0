// Apollo Client (no React) with automatic persisted queries over GET: sign up
// (or log in), post a tweet with a hashtag, then query the hashtag's feed twice.
// Every request that leaves is recorded (method, URL, what it carried, what
// came back) to show the protocol at work:
//
//   1. GET  ?extensions={"persistedQuery":{…"sha256Hash":…}}   -> PersistedQueryNotFound
//   2. POST {query, extensions}  (the link retries with the document; the server stores it)
//   3. GET  ?extensions=…  the hash alone, answered with data: the next time
//      (and from then on, for every client) the document never travels again,
//      and a GET is cacheable by browsers and CDNs.
//
//   node apollo.mjs [endpoint] [handle-prefix]
//
// endpoint: argv[2], else $CHIRP_URL, else http://127.0.0.1:8000/graphql.
// handle-prefix: argv[3], else $CHIRP_HANDLE_PREFIX, else a random one; the
//           account is <prefix>_ap (log in with $CHIRP_PASSWORD if it exists).
//
// Prints one JSON object on stdout and exits 0; on any error prints it on
// stderr and exits 1.
import { createHash } from 'node:crypto';

// `@apollo/client/core` is the client without React (in Apollo Client 4 the
// bare `@apollo/client` is the same entry point).
import {
  ApolloClient,
  ApolloLink,
  CombinedGraphQLErrors,
  HttpLink,
  InMemoryCache,
  gql,
} from '@apollo/client/core';
import { SetContextLink } from '@apollo/client/link/context';
// `PersistedQueryLink` is Apollo Client 4's name for createPersistedQueryLink.
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';

const DEFAULT_URL = 'http://127.0.0.1:8000/graphql';
const PASSWORD = process.env.CHIRP_PASSWORD ?? 'correct horse battery staple';

const SIGN_UP = gql`
  mutation SignUp($handle: String!, $password: String!) {
    signUp(handle: $handle, password: $password) {
      token
      user {
        id
        handle
      }
    }
  }
`;
const LOG_IN = gql`
  mutation LogIn($handle: String!, $password: String!) {
    logIn(handle: $handle, password: $password) {
      token
      user {
        id
        handle
      }
    }
  }
`;
const POST_TWEET = gql`
  mutation PostTweet($text: String!) {
    postTweet(text: $text) {
      id
      text
      hashtags
    }
  }
`;
const HASHTAG_FEED = gql`
  query HashtagFeed($tag: String!) {
    hashtagFeed(tag: $tag, first: 5) {
      edges {
        node {
          id
          text
          author {
            handle
          }
        }
      }
    }
  }
`;

function settings() {
  const url = process.argv[2] || process.env.CHIRP_URL || DEFAULT_URL;
  const prefix =
    process.argv[3] ||
    process.env.CHIRP_HANDLE_PREFIX ||
    `js${Math.random().toString(36).slice(2, 10)}`;
  // Handles are 3-15 of [A-Za-z0-9_]; the suffix takes three.
  if (!/^[A-Za-z0-9_]{1,12}$/.test(prefix)) {
    throw new Error(`handle prefix ${JSON.stringify(prefix)}: use 1-12 of [A-Za-z0-9_]`);
  }
  return { url, handle: `${prefix}_ap` };
}

const sha256 = (text) => createHash('sha256').update(text).digest('hex');

/** What one request carried and what came back. */
async function record(input, init, response) {
  const url = new URL(String(input));
  const method = (init?.method ?? 'GET').toUpperCase();
  let sent = {};
  if (method === 'GET') {
    const param = (name) => url.searchParams.get(name);
    sent = {
      operationName: param('operationName'),
      query: param('query'),
      extensions: param('extensions') ? JSON.parse(param('extensions')) : undefined,
    };
  } else if (typeof init?.body === 'string') {
    sent = JSON.parse(init.body);
  }
  const text = await response.clone().text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return {
    method,
    url: url.href,
    operationName: sent.operationName ?? null,
    sentQuery: typeof sent.query === 'string' && sent.query.length > 0,
    sha256Hash: sent.extensions?.persistedQuery?.sha256Hash ?? null,
    status: response.status,
    contentType: response.headers.get('content-type'),
    gotData: body?.data != null,
    errors: (body?.errors ?? []).map((e) => e.extensions?.code ?? e.message),
    ...(body === undefined ? { body: text.slice(0, 500) } : {}),
  };
}

async function main() {
  const { url, handle } = settings();

  // `fetch`, wrapped to record each request (an app would pass plain fetch).
  const requests = [];
  const recordingFetch = async (input, init) => {
    const response = await fetch(input, init);
    requests.push(await record(input, init, response));
    return response;
  };

  let token = null;
  const client = new ApolloClient({
    cache: new InMemoryCache(),
    link: ApolloLink.from([
      // The bearer token, once there is one, on every request.
      new SetContextLink((prevContext) =>
        token
          ? { headers: { ...prevContext.headers, authorization: `Bearer ${token}` } }
          : {},
      ),
      // Hash first, the document only when the server asks for it; hashed
      // queries (never mutations) as GET.
      new PersistedQueryLink({ sha256, useGETForHashedQueries: true }),
      new HttpLink({ uri: url, fetch: recordingFetch }),
    ]),
  });

  // Sign up, or log in when the handle is taken (a second run with the same prefix).
  let auth;
  try {
    const { data } = await client.mutate({
      mutation: SIGN_UP,
      variables: { handle, password: PASSWORD },
    });
    auth = data.signUp;
  } catch (err) {
    const code = CombinedGraphQLErrors.is(err) ? err.errors[0]?.extensions?.code : null;
    if (code !== 'CONFLICT') throw err;
    const { data } = await client.mutate({
      mutation: LOG_IN,
      variables: { handle, password: PASSWORD },
    });
    auth = data.logIn;
  }
  token = auth.token;

  const tag = `apq_${handle.toLowerCase()}_${Date.now().toString(36)}`;
  const { data: posted } = await client.mutate({
    mutation: POST_TWEET,
    variables: { text: `Persisted queries from @${auth.user.handle} #${tag}` },
  });

  // The same query twice, past the cache: the first run registers the document
  // (after a PersistedQueryNotFound), the second is the hash alone over GET.
  const runs = [];
  for (let i = 0; i < 2; i += 1) {
    const { data } = await client.query({
      query: HASHTAG_FEED,
      variables: { tag },
      fetchPolicy: 'network-only',
    });
    runs.push(data.hashtagFeed.edges.map((edge) => edge.node));
  }

  console.log(
    JSON.stringify(
      { url, user: auth.user, tag, tweet: posted.postTweet, runs, requests },
      null,
      2,
    ),
  );
}

main().catch((err) => {
  console.error(err?.stack ?? String(err));
  process.exit(1);
});

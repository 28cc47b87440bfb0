// Live home feed over graphql-ws: sign up (or log in), subscribe to `homeFeed`,
// post a tweet over plain HTTP and print the tweet the subscription delivers.
//
//   node subscribe.mjs [endpoint] [handle-prefix]
//
// endpoint: argv[2], else $CHIRP_URL, else http://127.0.0.1:8000/graphql
//           (the websocket URL is the same with ws:// or wss://).
// handle-prefix: argv[3], else $CHIRP_HANDLE_PREFIX, else a random one; the
//           account is <prefix>_ws (log in with $CHIRP_PASSWORD if it exists).
//
// Prints one JSON object on stdout and exits 0; on any error prints it on
// stderr and exits 1.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const DEFAULT_URL = 'http://127.0.0.1:8000/graphql';
const PASSWORD = process.env.CHIRP_PASSWORD ?? 'correct horse battery staple';
/** The whole run gives up after this long. */
const DEADLINE_MS = 20_000;
/** How long to wait for a posted tweet before posting another (see below). */
const REPOST_AFTER_MS = 1_000;

const SIGN_UP = `
  mutation SignUp($handle: String!, $password: String!) {
    signUp(handle: $handle, password: $password) { token user { id handle } }
  }`;
const LOG_IN = `
  mutation LogIn($handle: String!, $password: String!) {
    logIn(handle: $handle, password: $password) { token user { id handle } }
  }`;
const POST_TWEET = `
  mutation PostTweet($text: String!) {
    postTweet(text: $text) { id text }
  }`;
const HOME_FEED = `
  subscription HomeFeed {
    homeFeed { id text author { handle } }
  }`;

/** A GraphQL error as an Error that keeps the server's code. */
class GraphQLError extends Error {
  constructor(errors) {
    super(errors.map((e) => e.message).join('; '));
    this.code = errors[0]?.extensions?.code;
  }
}

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
  return { url, handle: `${prefix}_ws` };
}

/** POST one GraphQL operation; its data, or throw its errors. */
async function gql(url, query, variables, token) {
  const headers = { 'content-type': 'application/json', accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(url, {
    method: 'POST',
    headers,
    body: JSON.stringify({ query, variables }),
  });
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`HTTP ${response.status} from ${url}: ${text.slice(0, 200)}`);
  }
  if (body.errors?.length) throw new GraphQLError(body.errors);
  return body.data;
}

/** Sign up, or log in when the handle is taken (a second run with the same prefix). */
async function session(url, handle) {
  try {
    return (await gql(url, SIGN_UP, { handle, password: PASSWORD })).signUp;
  } catch (err) {
    if (err.code !== 'CONFLICT') throw err;
    return (await gql(url, LOG_IN, { handle, password: PASSWORD })).logIn;
  }
}

async function main() {
  const deadline = Date.now() + DEADLINE_MS;
  const { url, handle } = settings();
  const { token, user } = await session(url, handle);

  // Set by the callbacks below; `wake` resolves whoever waits in `until`.
  let connected = false;
  let wake = () => {};
  const client = createClient({
    url: url.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: 0,
    on: {
      connected: () => {
        connected = true;
        wake();
      },
    },
  });
  try {
    // Delivered tweets collect in `delivered`; an error ending the subscription in `failure`.
    const delivered = [];
    let failure = null;
    const unsubscribe = client.subscribe(
      { query: HOME_FEED },
      {
        next: (result) => {
          if (result.errors?.length) failure = new GraphQLError(result.errors);
          else delivered.push(result.data.homeFeed);
          wake();
        },
        error: (err) => {
          failure = err instanceof Error ? err : new Error(`subscription failed: ${describe(err)}`);
          wake();
        },
        complete: () => {
          failure ??= new Error('the server completed the subscription');
          wake();
        },
      },
    );
    /** Wait until `done()` holds or `ms` pass, waking at each delivery. */
    const until = async (done, ms) => {
      const end = Date.now() + ms;
      while (!done() && Date.now() < end) {
        await new Promise((resolve) => {
          const timer = setTimeout(resolve, end - Date.now());
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    };

    // graphql-ws connects lazily, on the first subscribe: let the server
    // acknowledge the connection (and so receive the subscription) first.
    await until(() => connected || failure, deadline - Date.now());

    // Your own tweets enter your home feed, so they are delivered to you. The
    // server starts listening a moment after `subscribe` and nothing marks
    // that moment: a tweet posted before it is in the feed but is not pushed.
    // So post, and if nothing arrives soon, post again (an app would load the
    // feed with a query and then listen; it does not need this dance).
    const posted = [];
    const arrived = () => delivered.find((t) => posted.some((p) => p.id === t.id));
    while (!arrived()) {
      if (failure) throw failure;
      if (Date.now() >= deadline) {
        throw new Error(`no tweet arrived within ${DEADLINE_MS} ms (posted ${posted.length})`);
      }
      const text = `Hello over graphql-ws from @${user.handle} (${posted.length + 1})`;
      posted.push((await gql(url, POST_TWEET, { text }, token)).postTweet);
      await until(
        () => arrived() || failure,
        Math.min(REPOST_AFTER_MS, deadline - Date.now()),
      );
    }
    const tweet = arrived();
    unsubscribe();
    console.log(JSON.stringify({ url, user, posted, delivered: tweet }));
  } finally {
    await client.dispose();
  }
}

/** A close event or anything else graphql-ws reports, as text. */
function describe(err) {
  if (err && typeof err === 'object' && 'code' in err) {
    return `websocket closed ${err.code} ${err.reason || ''}`.trim();
  }
  return JSON.stringify(err);
}

main().catch((err) => {
  console.error(err?.stack ?? String(err));
  process.exit(1);
});

// Run graphql-http's GraphQL-over-HTTP server audit against a live endpoint.
//
//   node audit.mjs http://127.0.0.1:8000/graphql
//
// Prints one JSON object on stdout:
//   {
//     "url": "...",
//     "results": [{"id", "name", "status": "ok"|"warn"|"error"|"notice",
//                  "reason", "response": {"status", "contentType", "body"}}],
//     "counts": {"MUST": {"passed", "total"}, "SHOULD": {...}, "MAY": {...}}
//   }
// ("reason" and "response" only on failed audits: what the server answered).
// Exits 0 when the audit ran (whatever the results; the caller judges them),
// 2 on a usage error, 1 when the audit itself could not run.
import { auditServer } from 'graphql-http';

const LEVELS = ['MUST', 'SHOULD', 'MAY'];
/** Characters of a failing response's body kept in the output. */
const BODY_LIMIT = 2000;

async function describe(response) {
  if (!response) return null;
  let body;
  try {
    body = await response.clone().text();
  } catch (err) {
    body = `<body unreadable: ${err}>`;
  }
  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    body: body.length > BODY_LIMIT ? `${body.slice(0, BODY_LIMIT)}…` : body,
  };
}

async function main() {
  const url = process.argv[2];
  if (!url) {
    console.error('usage: node audit.mjs <graphql endpoint URL>');
    process.exit(2);
  }
  const raw = await auditServer({ url });
  const results = [];
  const counts = Object.fromEntries(LEVELS.map((level) => [level, { passed: 0, total: 0 }]));
  for (const result of raw) {
    const level = LEVELS.find((l) => result.name.startsWith(`${l} `));
    if (level) {
      counts[level].total += 1;
      if (result.status === 'ok') counts[level].passed += 1;
    }
    const entry = { id: result.id, name: result.name, status: result.status };
    if (result.status !== 'ok') {
      entry.reason = result.reason;
      entry.response = await describe(result.response);
    }
    results.push(entry);
  }
  console.log(JSON.stringify({ url, results, counts }, null, 2));
}

main().catch((err) => {
  console.error(err?.stack ?? String(err));
  process.exit(1);
});

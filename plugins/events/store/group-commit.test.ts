/** When a coalesced store write runs (group-commit.ts): the next turn, or under load the turn after. */
import { expect, test } from "bun:test";
import { BUSY_BATCH, WriteTiming } from "./group-commit";

const turn = () => new Promise<void>((r) => setImmediate(r));

test("a write runs in the next turn; after a write of BUSY_BATCH appends or more, in the turn after; after a small one, in the next again", async () => {
  let writes = 0;
  const t = new WriteTiming(() => { writes++; });
  t.schedule();
  await turn();
  expect(writes).toBe(1);

  t.took(BUSY_BATCH);
  t.schedule();
  await turn();
  expect(writes).toBe(1); // waits one turn more
  await turn();
  expect(writes).toBe(2);

  t.took(BUSY_BATCH - 1);
  t.schedule();
  await turn();
  expect(writes).toBe(3);
});

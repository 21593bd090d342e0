import { expect, test } from "bun:test";
import { parseDsoReport } from "./cpu-split";

// The shape `perf report --sort dso --stdio` prints (perf 6.x), from a real run of the gateway under wrk.
const REPORT = `# To display the perf.data header info, please use --header/--header-only options.
#
# Total Lost Samples: 0
#
# Samples: 7K of event 'cpu-clock'
# Event count (approx.): 3706000000
#
# Overhead  Shared Object
# ........  .................
#
    58.22%  [kernel.kallsyms]
    21.18%  bun.exe
    12.38%  [JIT] tid 8903
     8.13%  libc.so.6
     0.05%  libm.so.6
     0.03%  [vdso]
`;

test("a perf dso report folds into kernel, program, JIT'd code and libc", () => {
  const s = parseDsoReport(REPORT);
  expect(s.samples).toBe(7000);
  expect(s.kernel).toBeCloseTo(0.5822, 4);
  expect(s.program).toBeCloseTo(0.2118, 4);
  expect(s.jit).toBeCloseTo(0.1238, 4);
  expect(s.libc).toBeCloseTo(0.0821, 4);
});

test("nginx's own binary counts as the program, and a report with no rows is all zero", () => {
  const s = parseDsoReport("# Samples: 812 of event 'cpu-clock'\n    69.21%  [kernel.kallsyms]\n    20.58%  nginx\n    10.17%  libc.so.6\n");
  expect(s.samples).toBe(812);
  expect(s.program).toBeCloseTo(0.2058, 4);
  expect(s.jit).toBe(0);
  expect(parseDsoReport("")).toEqual({ kernel: 0, program: 0, jit: 0, libc: 0, samples: 0 });
});

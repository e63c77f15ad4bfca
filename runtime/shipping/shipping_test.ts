import assert from "node:assert/strict";
import {
  canRebindSelf,
  compileWithScope,
  describeFunction,
  freeVariables,
  type FunctionDescription,
  loadFunction,
  registerModule,
} from "./mod.ts";
import { ShippingError } from "../errors.ts";
import * as fixture from "../../tests/fixtures/shipping_fixture.ts";

const FIXTURE_URL =
  new URL("../../tests/fixtures/shipping_fixture.ts", import.meta.url).href;
const WRAPPED = Symbol.for("tendril.wrapped");
const scopeNames: ReadonlySet<string> = new Set(["getClient", "secede"]);

// An in-task API stand-in: declared for the type checker, provided by the scope when loaded.
declare function getClient(): { name: string };

type NumFn = (n: number) => number;

/** A wrapper maker that counts calls, like `delayed`'s (it keeps the raw function under the symbol). */
function counter() {
  const state = { calls: 0 };
  const wrap = (raw: (...args: never[]) => unknown) => {
    const fn = raw as unknown as NumFn;
    const wrapper = (n: number) => {
      state.calls++;
      return fn(n);
    };
    Object.defineProperty(wrapper, WRAPPED, { value: raw });
    return wrapper;
  };
  return { state, wrap };
}

// Top-level, not exported: shipped by source. Each uses only globals, scope names and itself.
async function usesScope(n: number): Promise<string> {
  const client = getClient();
  await Promise.resolve();
  return `${client.name}:${Math.max(n, 0)}`;
}

function fact(n: number): number {
  return n < 2 ? 1 : n * fact(n - 1);
}

const fib = (n: number): number => n < 2 ? n : fib(n - 1) + fib(n - 2);

function fibD(n: number): number {
  return n < 2 ? n : fibD(n - 1) + fibD(n - 2);
}

Deno.test("an exported function ships by reference and loads as the same function", async () => {
  await registerModule(FIXTURE_URL);
  const desc = describeFunction(fixture.double, scopeNames);
  assert.deepEqual(desc.ref, {
    kind: "module",
    url: FIXTURE_URL,
    name: "double",
  });
  assert.equal(desc.id, `m:${FIXTURE_URL}#double`);
  assert.deepEqual(describeFunction(fixture.triple, scopeNames).ref, {
    kind: "module",
    url: FIXTURE_URL,
    name: "triple",
  });
  // Exported both as `bothNames` and `default`: the name wins.
  assert.equal(
    describeFunction(fixture.bothNames, scopeNames).ref.name,
    "bothNames",
  );
  const loaded = await loadFunction(desc, {});
  assert.equal(loaded, fixture.double);
  assert.equal((loaded as NumFn)(4), 8);
});

Deno.test("registerModule accepts a URL object and a path; a module ref with a missing export fails clearly", async () => {
  await registerModule(new URL(FIXTURE_URL));
  await registerModule(new URL(FIXTURE_URL).pathname);
  const missing: FunctionDescription = {
    id: "m:test-missing",
    ref: { kind: "module", url: FIXTURE_URL, name: "nope" },
  };
  await assert.rejects(loadFunction(missing, {}), (e) => {
    assert(e instanceof ShippingError);
    assert.match(e.message, /nope/);
    assert(e.message.includes(FIXTURE_URL));
    return true;
  });
  const notCallable: FunctionDescription = {
    id: "m:test-notcallable",
    ref: { kind: "module", url: FIXTURE_URL, name: "notAFunction" },
  };
  await assert.rejects(loadFunction(notCallable, {}), ShippingError);
});

Deno.test("a non-exported function that captures module state cannot be shipped", async () => {
  await registerModule(FIXTURE_URL);
  assert.throws(
    () => describeFunction(fixture.getHidden(), scopeNames),
    (e) => {
      assert(e instanceof ShippingError);
      assert.equal(e.name, "ShippingError");
      assert.deepEqual(e.variables, ["secret"]);
      assert.match(
        e.message,
        /function "hidden" cannot be shipped by source: it uses "secret"/,
      );
      assert.match(
        e.message,
        /export it from a local module that the entry script imports \(or from one passed to registerModule\(url\)\)/,
      );
      return true;
    },
  );
});

Deno.test("a top-level non-exported function ships by source and runs with the scope", async () => {
  const desc = describeFunction(usesScope, scopeNames);
  assert.equal(desc.ref.kind, "source");
  assert.equal(desc.ref.name, "usesScope");
  assert.match(desc.id, /^s:[\w-]{16}$/);
  const fn = await loadFunction(desc, {
    getClient: () => ({ name: "c1" }),
    secede: () => {},
  });
  assert.notEqual(fn, usesScope);
  assert.equal(await (fn as typeof usesScope)(3), "c1:3");
  assert.equal(fn.name, "usesScope");
});

Deno.test("recursion by the function's own name works by source", async () => {
  const f = await loadFunction(describeFunction(fact, scopeNames), {});
  assert.equal((f as NumFn)(5), 120);
  // An arrow sees itself by the name it was given (`fib` is free in its source).
  assert.deepEqual(freeVariables(fib.toString()), ["fib"]);
  const g = await loadFunction(describeFunction(fib, scopeNames), {});
  assert.equal((g as NumFn)(10), 55);
  assert.equal(g.name, "fib");
});

Deno.test("arrow functions of every shape ship by source", async () => {
  const forms: [(...args: never[]) => unknown, unknown[], unknown][] = [
    [(x: number) => x + 1, [1], 2],
    [async (x: number) => await x * 2, [2], 4],
    [
      (x: number) => {
        const y = x ** 2;
        return y;
      },
      [3],
      9,
    ],
    [
      async (a: number, b = Math.abs(a)) => {
        await null;
        return a + b;
      },
      [-2],
      0,
    ],
    [() => typeof getClient, [], "function"],
  ];
  for (const [fn, args, want] of forms) {
    const scope = { getClient: () => ({ name: "c" }) };
    const loaded = await loadFunction(
      describeFunction(fn, scopeNames),
      scope,
    ) as (...a: unknown[]) => unknown;
    assert.equal(await loaded(...args), want, fn.toString());
  }
});

Deno.test("method shorthand, getters, computed keys and class static methods ship by source", async () => {
  const key = "computed";
  const obj = {
    scale(x: number) {
      return x * 10;
    },
    async *count(n: number) {
      for (let i = 0; i < n; i++) yield i;
    },
    get answer() {
      return 42;
    },
    [key](x: number) {
      return x - 1;
    },
    delete(x: number) {
      return -x;
    },
  };
  class K {
    static twice(x: number): number {
      return 2 * x;
    }
  }
  const scale = await loadFunction(describeFunction(obj.scale, scopeNames), {});
  assert.equal((scale as NumFn)(2), 20);
  assert.equal(scale.name, "scale");
  const count = await loadFunction(
    describeFunction(obj.count, scopeNames),
    {},
  ) as typeof obj.count;
  assert.deepEqual(await Array.fromAsync(count(3)), [0, 1, 2]);
  const getter = Object.getOwnPropertyDescriptor(obj, "answer")!.get!;
  assert.equal(
    (await loadFunction(describeFunction(getter, scopeNames), {}) as () =>
      number)(),
    42,
  );
  // The computed key (`key`) is not part of the function.
  const computed = await loadFunction(
    describeFunction(obj[key], scopeNames),
    {},
  );
  assert.equal((computed as NumFn)(5), 4);
  const del = await loadFunction(describeFunction(obj.delete, scopeNames), {});
  assert.equal((del as NumFn)(5), -5);
  const twice = await loadFunction(describeFunction(K.twice, scopeNames), {});
  assert.equal((twice as NumFn)(21), 42);
});

Deno.test("a closure capturing a local variable throws ShippingError naming it", () => {
  const threshold = 3;
  const limit = 10;
  function process(x: number) {
    return x > threshold && x < limit;
  }
  assert.throws(() => describeFunction(process, scopeNames), (e) => {
    assert(e instanceof ShippingError);
    assert.deepEqual(e.variables, ["threshold", "limit"]);
    assert.match(
      e.message,
      /^function "process" cannot be shipped by source: it uses "threshold" and "limit", which a worker cannot see\. To use it on workers, export it from a local module that the entry script imports \(or from one passed to registerModule\(url\)\): it then ships by reference, with everything its module uses; or, for data, pass them as arguments \(values travel as arguments, functions do not\)\.$/,
    );
    return true;
  });
  // A name of the scope is fine only if the caller declares it.
  const usesSecede = () => secede();
  function secede() {}
  assert.equal(describeFunction(usesSecede, scopeNames).ref.kind, "source");
  assert.throws(() => describeFunction(() => secede(), new Set()), /"secede"/);
});

Deno.test("native and bound functions cannot be shipped", () => {
  assert.throws(() => describeFunction(Math.max, scopeNames), (e) => {
    assert(e instanceof ShippingError);
    assert.match(
      e.message,
      /function "max" cannot be shipped: it is a native or bound function/,
    );
    return true;
  });
  assert.throws(
    () => describeFunction(fact.bind(null), scopeNames),
    /"bound fact" cannot be shipped: it is a native or bound/,
  );
});

Deno.test("functions using import.meta cannot be shipped by source", () => {
  const where = () => import.meta.url;
  assert.throws(() => describeFunction(where, scopeNames), /uses import\.meta/);
});

Deno.test("describeFunction is cached per function object and per scope set", () => {
  const a = describeFunction(usesScope, scopeNames);
  assert.equal(describeFunction(usesScope, scopeNames), a);
  // Same check against another set holding the names it needs: same description.
  assert.equal(describeFunction(usesScope, new Set(["getClient"])), a);
  // Against a set without them: the cached description is not a pass.
  assert.throws(() => describeFunction(usesScope, new Set()), /"getClient"/);
  // Two objects with the same source and name share the id.
  const make = () => (x: number) => x + 1;
  const [f1, f2] = [make(), make()];
  assert.notEqual(f1, f2);
  assert.equal(
    describeFunction(f1, scopeNames).id,
    describeFunction(f2, scopeNames).id,
  );
  assert.notEqual(
    describeFunction(f1, scopeNames).id,
    describeFunction((x: number) => x + 2, scopeNames).id,
  );
});

Deno.test("loadFunction caches by id and registers what it loads", async () => {
  const desc = describeFunction(fact, scopeNames);
  const scope = {};
  const f = await loadFunction(desc, scope);
  assert.equal(await loadFunction(desc, scope), f);
  assert.equal(describeFunction(f, scopeNames), desc);
  // A description from the wire (no local function) round-trips too.
  const wire: FunctionDescription = JSON.parse(
    JSON.stringify(describeFunction(fib, scopeNames)),
  );
  const g = await loadFunction(wire, { other: 1 });
  assert.equal(describeFunction(g, scopeNames).id, wire.id);
});

Deno.test("loadFunction rejects a source that uses a name the scope lacks", async () => {
  const desc = describeFunction(usesScope, scopeNames);
  await assert.rejects(loadFunction(desc, {}), (e) => {
    assert(e instanceof ShippingError);
    assert.deepEqual(e.variables, ["getClient"]);
    return true;
  });
});

Deno.test("compileWithScope rebinds a named function's own name to its wrapper", () => {
  const { state, wrap } = counter();
  const w = compileWithScope(fibD.toString(), {}, "fibD", wrap) as NumFn;
  assert.equal(w(6), 8);
  // fib(6) makes 25 calls in all; each went through the wrapper.
  assert.equal(state.calls, 25);
  const raw = (w as unknown as Record<symbol, NumFn>)[WRAPPED];
  assert.equal(raw.name, "fibD");
  assert.doesNotMatch(raw.toString(), /function fibD/);
  // An arrow recursing by the name it was given.
  const c2 = counter();
  const w2 = compileWithScope(fib.toString(), {}, "fib", c2.wrap) as NumFn;
  assert.equal(w2(6), 8);
  assert.equal(c2.state.calls, 25);
  // Without a wrapper, the function is itself.
  const plain = compileWithScope(fibD.toString(), {}) as NumFn;
  assert.equal(plain(10), 55);
  // Scope values are in view; other names are not.
  const withScope = compileWithScope("(x) => base + x", {
    base: 100,
    unused: 1,
  }) as NumFn;
  assert.equal(withScope(1), 101);
  assert.throws(() => compileWithScope("(x) => {", {}), ShippingError);
});

Deno.test("a wrapper ships its wrapped function's source, and loads wrapped again", async () => {
  const { state, wrap } = counter();
  const w = wrap(fibD as (...args: never[]) => unknown);
  const desc = describeFunction(w, scopeNames);
  assert.deepEqual(desc.ref, {
    kind: "source",
    source: fibD.toString(),
    name: "fibD",
    wrapped: true,
  });
  assert.notEqual(desc.id, describeFunction(fibD, scopeNames).id);
  const loaded = await loadFunction(desc, {}, { wrap }) as NumFn;
  state.calls = 0;
  assert.equal(loaded(6), 8);
  assert.equal(state.calls, 25);
  assert.equal(describeFunction(loaded, scopeNames), desc);
});

Deno.test("an exported wrapper, or a wrapper of an export, ships by reference", async () => {
  await registerModule(FIXTURE_URL);
  assert.deepEqual(describeFunction(fixture.wrappedSquare, scopeNames).ref, {
    kind: "module",
    url: FIXTURE_URL,
    name: "wrappedSquare",
  });
  const { state, wrap } = counter();
  const w = wrap(fixture.double as (...args: never[]) => unknown);
  const desc = describeFunction(w, scopeNames);
  assert.deepEqual(desc.ref, {
    kind: "module",
    url: FIXTURE_URL,
    name: "double",
    wrapped: true,
  });
  const loaded = await loadFunction(desc, {}, { wrap }) as NumFn;
  assert.equal(loaded(5), 10);
  assert.equal(state.calls, 1);
});

Deno.test("canRebindSelf", () => {
  const k = 2;
  assert.equal(canRebindSelf(fibD, scopeNames), true);
  assert.equal(canRebindSelf(fib, scopeNames), true);
  assert.equal(canRebindSelf(usesScope, scopeNames), true);
  assert.equal(canRebindSelf(usesScope, new Set()), false);
  assert.equal(
    canRebindSelf(function scaled(n: number) {
      return n * k;
    }, scopeNames),
    false,
  );
  assert.equal(canRebindSelf((() => () => 1)(), scopeNames), false); // anonymous
  assert.equal(canRebindSelf(Math.max, scopeNames), false);
  assert.equal(canRebindSelf(class Named {}, scopeNames), false);
});

Deno.test("freeVariables on tricky inputs", () => {
  const cases: [string, string[]][] = [
    // parameters, destructuring, defaults (evaluated in the parameter scope)
    ["function f(a, { b, c: [d] } = x, e = a + y) { return a + b + d + e; }", [
      "x",
      "y",
    ]],
    // let/const/var/class/function declarations, block scoping
    [
      "() => { let a = 1; const b = a; var c; class C {} function g() { return C; } return a + b + c + g(); }",
      [],
    ],
    ["() => { { let inner = 1; } return inner; }", ["inner"]],
    // hoisting: used before declared
    ["() => { use(later); var later = 1; }", ["use"]],
    // catch bindings, with and without a destructured parameter
    [
      "() => { try { t(); } catch ({ message }) { return message; } try {} catch (e) { e; } return e; }",
      ["t", "e"],
    ],
    // property names and object keys are not variables; shorthand values are
    ["(o) => o.a.b + o['c'] + ({ k: 1, [dyn]: 2, short }).k", ["dyn", "short"]],
    // labels are not variables
    [
      "() => { outer: for (const i of list) { for (;;) { break outer; } continue outer; } }",
      ["list"],
    ],
    // typeof counts
    ["() => typeof maybe === 'undefined'", ["maybe"]],
    // closures inside, and shadowing inside them
    ["(a) => () => (b) => a + b + c", ["c"]],
    ["() => { const z = 1; return [1].map((z) => z + w); }", ["w"]],
    // a named function expression sees itself; arguments is local to functions, not arrows
    ["function self() { return self(arguments[0]); }", []],
    ["() => arguments", ["arguments"]],
    // classes: own name, members, fields, static blocks, super class, private names
    [
      "class A extends Base { #p = init; static { st(); } m() { return A.#p + this.#p + super.m(); } [key] = 1 }",
      ["Base", "init", "st", "key"],
    ],
    // assignment targets are uses too
    ["() => { counter += 1; [p, q] = [1, 2]; }", ["counter", "p", "q"]],
    // template literals, optional chaining, new, tagged templates, spread
    ["() => tag`${a}-${b?.c}` + new Ctor(...rest)", [
      "tag",
      "a",
      "b",
      "Ctor",
      "rest",
    ]],
    // import(): the callee is syntax, its argument is an expression
    ["async () => import(spec)", ["spec"]],
    // method shorthand: its computed key is not counted
    ["[computedKey](x) { return x + y; }", ["y"]],
    ["get size() { return this.n + z; }", ["z"]],
  ];
  for (const [source, want] of cases) {
    assert.deepEqual(freeVariables(source), want, source);
  }
  assert.throws(() => freeVariables("not a function at all ("), SyntaxError);
  assert.throws(() => freeVariables("1 + 2"), SyntaxError);
  assert.throws(() => freeVariables("(() => 1), (() => 2)"), SyntaxError);
});

Deno.test({
  name:
    "the entry script's exports ship by reference even during its top-level await",
  ignore: Deno.permissions.querySync({ name: "run" }).state !== "granted",
  async fn() {
    const script = new URL(
      "../../tests/fixtures/main_script_fixture.ts",
      import.meta.url,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", script.pathname],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    const result = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.deepEqual(result, {
      ref: { kind: "module", url: script.href, name: "addOffset" },
      value: 6,
      sameId: true,
    });
  },
});

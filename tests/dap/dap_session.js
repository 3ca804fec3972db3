#!/usr/bin/env node
// dap.session: what VS Code does in a debug session of the example guest, without
// VS Code. It starts cdt-gdb-adapter (the debug adapter of VS Code's "CDT GDB
// Debug Adapter" extension) over stdio, speaks the Debug Adapter Protocol to it
// and launches the "gdbtarget" configuration of guests/example/.vscode/launch.json
// as written there (the adapter starts kvmgdb, gdb connects to it), so the
// configuration the docs point at is the one that is tested. Then it checks the
// cppdbg configuration's other half: the preLaunchTask of tasks.json started as
// VS Code would, its endsPattern against kvmgdb's real output, and gdb connected
// to miDebuggerServerAddress.
//
//   node tests/dap/dap_session.js --kvmgdb build/kvmgdb --guest build/guests/example.elf
//       [--adapter PATH] [--log-dir DIR] [--timeout SECONDS]
//
// The paths in launch.json point at the repository's build/; --kvmgdb and --guest
// take their place (another build directory). Each check prints "ok: ..."; the
// first failure prints what was expected and what was seen, and exits 1.
// Needs /dev/kvm: run it through scripts/with-kvm (ctest: dap.session).
'use strict';

const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..', '..');
const EXAMPLE_DIR = path.join(REPO, 'guests', 'example');
const EXAMPLE_SOURCE = path.join(EXAMPLE_DIR, 'example.c');
// Where launch.json and tasks.json say kvmgdb and the guest are.
const DOC_KVMGDB = path.join(REPO, 'build', 'kvmgdb');
const DOC_GUEST = path.join(REPO, 'build', 'guests', 'example.elf');
const EXIT_STATUS = 7;   // example.c's exit-port value
const STEP_TIMEOUT_MS = 90_000;
// The output events' category of what the server (kvmgdb) prints: the guest's
// console. (Category "stdout" is gdb's, and the adapter's own log with verbose.)
const GUEST_CONSOLE = 'server';

class Failure extends Error {}

// Processes to kill when the test ends early (the global timeout included).
const cleanups = new Set();

function fail(what, expected, seen) {
    throw new Failure(`${what}: expected ${expected}, saw ${seen}`);
}

function ok(what) {
    console.log(`ok: ${what}`);
}

function expectEq(what, seen, expected) {
    if (seen !== expected) fail(what, JSON.stringify(expected), JSON.stringify(seen));
    ok(`${what} = ${JSON.stringify(seen)}`);
}

// ---------------------------------------------------------------- options

function parseOptions(argv) {
    const opts = {
        adapter: path.join(__dirname, 'node_modules', 'cdt-gdb-adapter', 'dist', 'debugTargetAdapter.js'),
        timeout: 330,
        logDir: undefined,
    };
    for (let i = 0; i < argv.length; i++) {
        const name = argv[i];
        const value = argv[++i];
        if (value === undefined) usage(`${name} needs a value`);
        switch (name) {
        case '--kvmgdb': opts.kvmgdb = path.resolve(value); break;
        case '--guest': opts.guest = path.resolve(value); break;
        case '--adapter': opts.adapter = path.resolve(value); break;
        case '--log-dir': opts.logDir = path.resolve(value); break;
        case '--timeout': opts.timeout = Number(value); break;
        default: usage(`unknown option ${name}`);
        }
    }
    if (!opts.kvmgdb || !opts.guest) usage('--kvmgdb and --guest are required');
    for (const [what, file] of [['kvmgdb', opts.kvmgdb], ['the guest', opts.guest]]) {
        if (!fs.existsSync(file)) usage(`${what} not found: ${file}`);
    }
    if (!fs.existsSync(opts.adapter)) {
        usage(`cdt-gdb-adapter not found: ${opts.adapter}\n` +
              '  install it with scripts/setup (npm ci --ignore-scripts --prefix tests/dap)');
    }
    return opts;
}

function usage(message) {
    console.error(`dap_session.js: ${message}`);
    process.exit(2);
}

// ---------------------------------------------------------------- launch.json

// VS Code's launch.json and tasks.json are JSON with comments and trailing
// commas: drop both (outside strings) and parse the rest as JSON.
function parseJsonc(text, file) {
    let out = '';
    for (let i = 0; i < text.length; i++) {
        const c = text[i];
        if (c === '"') {
            let j = i + 1;
            while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
            out += text.slice(i, j + 1);
            i = j;
        } else if (c === '/' && text[i + 1] === '/') {
            while (i < text.length && text[i] !== '\n') i++;
            out += '\n';
        } else if (c === '/' && text[i + 1] === '*') {
            const end = text.indexOf('*/', i + 2);
            i = end < 0 ? text.length : end + 1;
        } else if (c === ',' && /^\s*[\]}]/.test(text.slice(i + 1))) {
            // a trailing comma: nothing
        } else {
            out += c;
        }
    }
    try {
        return JSON.parse(out);
    } catch (e) {
        throw new Failure(`${file} does not parse: ${e.message}`);
    }
}

// The variables VS Code substitutes that these files may use. Anything else is an
// error: a configuration this test cannot run as VS Code would is not tested.
function substitute(value, file) {
    if (typeof value === 'string') {
        return value.replace(/\$\{([^}]+)\}/g, (whole, name) => {
            if (name === 'workspaceFolder' || name === 'workspaceRoot') return EXAMPLE_DIR;
            if (name === 'workspaceFolderBasename') return path.basename(EXAMPLE_DIR);
            if (name === 'userHome') return require('node:os').homedir();
            if (name === 'pathSeparator') return path.sep;
            if (name.startsWith('env:')) return process.env[name.slice(4)] ?? '';
            throw new Failure(`${file} uses ${whole}, which this test cannot substitute`);
        });
    }
    if (Array.isArray(value)) return value.map((v) => substitute(v, file));
    if (value && typeof value === 'object') {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, file)]));
    }
    return value;
}

// Replaces build/kvmgdb and build/guests/example.elf (resolved) by the binaries
// under test; the callers then insist that the configuration names both.
function mapBinaries(value, opts) {
    if (typeof value === 'string') {
        if (!path.isAbsolute(value)) return value;
        const p = path.normalize(value);
        if (p === DOC_KVMGDB) return opts.kvmgdb;
        if (p === DOC_GUEST) return opts.guest;
        return value;
    }
    if (Array.isArray(value)) return value.map((v) => mapBinaries(v, opts));
    if (value && typeof value === 'object') {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapBinaries(v, opts)]));
    }
    return value;
}

function loadVscodeFile(name) {
    const file = path.join(EXAMPLE_DIR, '.vscode', name);
    return parseJsonc(fs.readFileSync(file, 'utf8'), file);
}

function configurationOfType(launch, type) {
    const found = (launch.configurations || []).filter((c) => c.type === type);
    if (found.length !== 1) fail(`launch.json configurations of type ${type}`, 'exactly one', found.length);
    return found[0];
}

// JSON with its object keys sorted: equal configurations, equal text.
function canonical(value) {
    if (Array.isArray(value)) return value.map(canonical);
    if (value && typeof value === 'object') {
        return Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonical(value[k])]));
    }
    return value;
}

// docs/vscode.md pastes the two configurations and tasks.json: they must be the
// files' (which the session below runs), not an older copy.
function checkDocs() {
    const file = path.join(REPO, 'docs', 'vscode.md');
    const blocks = [...fs.readFileSync(file, 'utf8').matchAll(/```json\n([\s\S]*?)```/g)].map((m) => parseJsonc(m[1], file));
    const launch = loadVscodeFile('launch.json');
    const expected = [
        ['the gdbtarget configuration', (b) => b.type === 'gdbtarget', configurationOfType(launch, 'gdbtarget')],
        ['the cppdbg configuration', (b) => b.type === 'cppdbg', configurationOfType(launch, 'cppdbg')],
        ['tasks.json', (b) => Array.isArray(b.tasks), loadVscodeFile('tasks.json')],
    ];
    for (const [what, isIt, fromFile] of expected) {
        const block = blocks.find(isIt);
        const want = JSON.stringify(canonical(fromFile));
        if (!block || JSON.stringify(canonical(block)) !== want) {
            fail(`docs/vscode.md: ${what}`, `the one in guests/example/.vscode: ${want}`, block ? JSON.stringify(canonical(block)) : 'no such JSON block');
        }
    }
    ok('docs/vscode.md shows the configurations and the task of guests/example/.vscode as they are');
}

// "LINE: name" markers in example.c -> line numbers (1-based).
function sourceMarkers() {
    const markers = {};
    fs.readFileSync(EXAMPLE_SOURCE, 'utf8').split('\n').forEach((text, i) => {
        const m = /LINE: ([\w-]+)/.exec(text);
        if (m) markers[m[1]] = i + 1;
    });
    for (const name of ['square-body', 'square-return', 'sum-loop', 'wait-loop', 'total-store']) {
        if (!markers[name]) throw new Failure(`example.c has no "LINE: ${name}" marker`);
    }
    return markers;
}

// Function symbols of the guest (nm -S): name -> {start, end}.
function guestSymbols(elf) {
    const symbols = {};
    for (const line of execFileSync('nm', ['-S', elf], { encoding: 'utf8' }).split('\n')) {
        const f = line.trim().split(/\s+/);
        if (f.length === 4) symbols[f[3]] = { start: BigInt('0x' + f[0]), end: BigInt('0x' + f[0]) + BigInt('0x' + f[1]) };
    }
    return symbols;
}

// ---------------------------------------------------------------- DAP client

// One debug adapter over stdio: Content-Length framed JSON messages. Every event
// is kept, in order; waitUntil() re-evaluates its condition after each message.
class DebugAdapter {
    constructor(adapterPath, transcriptFile) {
        this.seq = 1;
        this.pending = new Map();
        this.events = [];
        this.waiters = new Set();
        this.buffer = Buffer.alloc(0);
        this.transcript = transcriptFile ? fs.createWriteStream(transcriptFile) : undefined;
        this.stderr = '';
        // Its own process group: gdb and kvmgdb, its children, go down with it.
        this.proc = spawn(process.execPath, [adapterPath], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
        this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => {
            this.exitStatus = { code, signal };
            this.wake();
            resolve(this.exitStatus);
        }));
        this.proc.stdout.on('data', (chunk) => this.receive(chunk));
        this.proc.stderr.on('data', (chunk) => { this.stderr += chunk; });
        cleanups.add(() => this.kill());
    }

    log(direction, message) {
        if (this.transcript) this.transcript.write(`${new Date().toISOString()} ${direction} ${JSON.stringify(message)}\n`);
    }

    send(message) {
        this.log('->', message);
        const json = JSON.stringify(message);
        this.proc.stdin.write(`Content-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`);
    }

    receive(chunk) {
        this.buffer = Buffer.concat([this.buffer, chunk]);
        for (;;) {
            const headerEnd = this.buffer.indexOf('\r\n\r\n');
            if (headerEnd < 0) return;
            const m = /Content-Length: *(\d+)/i.exec(this.buffer.slice(0, headerEnd).toString());
            if (!m) throw new Failure(`adapter sent a header without Content-Length: ${this.buffer.slice(0, headerEnd)}`);
            const start = headerEnd + 4;
            const end = start + Number(m[1]);
            if (this.buffer.length < end) return;
            const message = JSON.parse(this.buffer.slice(start, end).toString());
            this.buffer = this.buffer.slice(end);
            this.dispatch(message);
        }
    }

    dispatch(message) {
        this.log('<-', message);
        if (message.type === 'response') {
            const resolve = this.pending.get(message.request_seq);
            this.pending.delete(message.request_seq);
            if (resolve) resolve(message);
        } else if (message.type === 'event') {
            this.events.push(message);
        } else if (message.type === 'request') {
            // A reverse request (runInTerminal, ...): this client has no terminal.
            this.send({ seq: this.seq++, type: 'response', request_seq: message.seq, command: message.command,
                        success: false, message: 'not supported by the test client' });
        }
        this.wake();
    }

    wake() {
        for (const w of [...this.waiters]) w();
    }

    // Resolves with the first truthy value of condition(), evaluated now and after
    // every message; fails after timeoutMs, or when the adapter exits first.
    waitUntil(description, condition, timeoutMs = STEP_TIMEOUT_MS) {
        return new Promise((resolve, reject) => {
            let timer;
            const check = () => {
                let value;
                try {
                    value = condition();
                } catch (e) {
                    finish();
                    reject(e);
                    return;
                }
                if (value) {
                    finish();
                    resolve(value);
                } else if (this.exitStatus) {
                    finish();
                    reject(new Failure(`${description}: the adapter exited (${JSON.stringify(this.exitStatus)}) first`));
                }
            };
            const finish = () => { clearTimeout(timer); this.waiters.delete(check); };
            timer = setTimeout(() => {
                finish();
                reject(new Failure(`${description}: nothing after ${timeoutMs / 1000} s`));
            }, timeoutMs);
            this.waiters.add(check);
            check();
        });
    }

    // The response, successful or not.
    async request(command, args, timeoutMs = STEP_TIMEOUT_MS) {
        const seq = this.seq++;
        let response;
        this.pending.set(seq, (r) => { response = r; });
        this.send({ seq, type: 'request', command, arguments: args });
        return this.waitUntil(`the response to ${command}`, () => response, timeoutMs);
    }

    // The response's body; a failed request is a failed check.
    async ok(command, args, timeoutMs) {
        const response = await this.request(command, args, timeoutMs);
        if (!response.success) fail(`${command} ${JSON.stringify(args)}`, 'success', `error "${response.message}" ${JSON.stringify(response.body || {})}`);
        return response.body || {};
    }

    // The first event named `name` at index >= from that satisfies pred.
    waitEvent(description, name, from, pred = () => true, timeoutMs) {
        return this.waitUntil(description, () => {
            for (let i = from; i < this.events.length; i++) {
                const e = this.events[i];
                if (e.event === name && pred(e)) return e;
            }
            return undefined;
        }, timeoutMs);
    }

    outputText(category, from = 0) {
        return this.events.slice(from).filter((e) => e.event === 'output' &&
            (category === undefined || e.body.category === category)).map((e) => e.body.output).join('');
    }

    kill() {
        try { process.kill(-this.proc.pid, 'SIGKILL'); } catch { /* gone already */ }
    }
}

// ---------------------------------------------------------------- the session

// Waits for the next stopped event at or after `from`; a terminated event first
// is a failure (the guest ran away).
async function waitStopped(dap, from, after) {
    const e = await dap.waitUntil(`a stopped event after ${after}`, () => {
        for (let i = from; i < dap.events.length; i++) {
            const ev = dap.events[i];
            if (ev.event === 'stopped' || ev.event === 'terminated') return ev;
        }
        return undefined;
    });
    if (e.event === 'terminated') fail(`after ${after}`, 'a stopped event', 'terminated (the guest ended)');
    return e.body;
}

async function topFrames(dap, threadId, levels = 5) {
    const body = await dap.ok('stackTrace', { threadId, startFrame: 0, levels });
    if (!body.stackFrames || body.stackFrames.length === 0) fail('stackTrace', 'frames', JSON.stringify(body));
    return body.stackFrames;
}

async function expectTop(dap, threadId, what, func, lines) {
    const frames = await topFrames(dap, threadId);
    const top = frames[0];
    const name = top.name.replace(/\(.*$/, '');
    if (name !== func || !lines.includes(top.line) || !top.source || path.basename(top.source.path || '') !== 'example.c') {
        fail(`${what}: top frame`, `${func} at example.c:${lines.join(' or ')}`,
             `${top.name} at ${top.source ? top.source.path : '(no source)'}:${top.line}`);
    }
    ok(`${what}: top frame ${func} at example.c:${top.line}`);
    return frames;
}

// name -> variable of one scope.
async function variables(dap, variablesReference) {
    const body = await dap.ok('variables', { variablesReference });
    return Object.fromEntries((body.variables || []).map((v) => [v.name, v]));
}

async function scopesOf(dap, frameId) {
    const body = await dap.ok('scopes', { frameId });
    const scopes = body.scopes || [];
    const locals = scopes.find((s) => /^local/i.test(s.name));
    const registers = scopes.find((s) => /^registers?$/i.test(s.name));
    if (!locals || !registers) fail('scopes', 'a Local and a Registers scope', JSON.stringify(scopes.map((s) => s.name)));
    return { locals, registers };
}

async function expectLocals(dap, frameId, what, expected) {
    const { locals } = await scopesOf(dap, frameId);
    const vars = await variables(dap, locals.variablesReference);
    for (const [name, value] of Object.entries(expected)) {
        const v = vars[name];
        const seen = v ? v.value : '(missing)';
        if (typeof value === 'function' ? !(v && value(v.value)) : seen !== value) {
            fail(`${what}: local ${name}`, typeof value === 'function' ? value.toString() : value, seen);
        }
    }
    ok(`${what}: locals ${Object.keys(expected).map((n) => `${n}=${vars[n].value}`).join(' ')}`);
    return { ref: locals.variablesReference, vars };
}

async function evaluate(dap, frameId, expression) {
    const body = await dap.ok('evaluate', { expression, frameId, context: 'watch' });
    return body.result;
}

async function gdbTargetSession(opts, markers, symbols) {
    const launchJson = loadVscodeFile('launch.json');
    let config = configurationOfType(launchJson, 'gdbtarget');
    if (config.request !== 'launch') fail('gdbtarget configuration: request', 'launch', config.request);
    config = substitute(config, 'launch.json');
    config = mapBinaries(config, opts);
    const t = config.target || {};
    if (t.server !== opts.kvmgdb) fail('gdbtarget: target.server', DOC_KVMGDB, t.server);
    if (config.program !== opts.guest) fail('gdbtarget: program', DOC_GUEST, config.program);
    const params = t.serverParameters || [];
    const listenAt = params.indexOf('--listen');
    if (listenAt < 0 || !/:0$/.test(params[listenAt + 1] || '') || params[params.length - 1] !== opts.guest) {
        fail('gdbtarget: target.serverParameters', '["--listen", "HOST:0", ..., the guest ELF]', JSON.stringify(params));
    }
    if (!t.serverPortRegExp) fail('gdbtarget: target.serverPortRegExp', 'a regular expression', 'none');
    ok(`launch.json: the gdbtarget configuration "${config.name}" runs kvmgdb ${params.slice(0, -1).join(' ')} on the guest`);
    if (opts.logDir) {
        // Diagnostics only: the adapter's own log (with gdb's MI traffic).
        config.verbose = true;
        config.logFile = path.join(opts.logDir, 'dap-adapter.log');
    }

    const dap = new DebugAdapter(opts.adapter, opts.logDir && path.join(opts.logDir, 'dap-transcript.log'));
    try {
        await runSession(dap, config, markers, symbols);
    } catch (e) {
        if (e instanceof Failure) {
            const server = dap.outputText('server');
            console.log(`--- output events of category "server" (kvmgdb's stdout and stderr):\n${server}---`);
            if (dap.stderr) console.log(`--- the adapter's stderr:\n${dap.stderr}---`);
        }
        throw e;
    } finally {
        dap.kill();
    }
}

async function runSession(dap, config, markers, symbols) {
    const init = await dap.ok('initialize', {
        clientID: 'kvmgdb-dap-test', clientName: 'kvmgdb tests/dap', adapterID: config.type,
        linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path',
        supportsVariableType: true, supportsMemoryReferences: true, supportsRunInTerminalRequest: false,
    });
    for (const cap of ['supportsConfigurationDoneRequest', 'supportsSetVariable', 'supportsReadMemoryRequest',
                       'supportsWriteMemoryRequest', 'supportsDisassembleRequest']) {
        if (!init[cap]) fail(`initialize: capability ${cap}`, 'true', init[cap]);
    }
    ok('initialize: configurationDone, setVariable, readMemory, writeMemory, disassemble supported');

    // The adapter starts kvmgdb and gdb, connects, sends "initialized", then answers.
    const launchMark = dap.events.length;
    const launch = await dap.request('launch', config, 120_000);
    if (!launch.success) fail('launch', 'success', `error "${launch.message}"`);
    await dap.waitEvent('the initialized event', 'initialized', launchMark);
    ok('launch: the adapter started kvmgdb and gdb connected (initialized event)');

    const listening = dap.outputText('server', launchMark).match(/^listening on .*$/m);
    if (!listening || !new RegExp(config.target.serverPortRegExp).test(listening[0])) {
        fail('kvmgdb\'s listening line against target.serverPortRegExp', `a match of /${config.target.serverPortRegExp}/`,
             listening ? listening[0] : '(no "listening on" line)');
    }
    ok(`target.serverPortRegExp matches kvmgdb's "${listening[0]}"`);

    const source = { name: 'example.c', path: EXAMPLE_SOURCE };
    const bp = await dap.ok('setBreakpoints', { source, breakpoints: [{ line: markers['sum-loop'] }] });
    if (!bp.breakpoints || bp.breakpoints.length !== 1 || !bp.breakpoints[0].verified || bp.breakpoints[0].line !== markers['sum-loop']) {
        fail('setBreakpoints', `one verified breakpoint at line ${markers['sum-loop']}`, JSON.stringify(bp.breakpoints));
    }
    ok(`setBreakpoints: verified at example.c:${markers['sum-loop']}`);

    const threadsBody = await dap.ok('threads', {});
    if (!threadsBody.threads || threadsBody.threads.length !== 1) fail('threads', 'one thread (one vCPU)', JSON.stringify(threadsBody.threads));
    const threadId = threadsBody.threads[0].id;
    ok(`threads: one thread, id ${threadId} (${threadsBody.threads[0].name})`);

    // kvmgdb holds the guest at its entry until the first continue; the adapter
    // gives that continue itself once the configuration is done (as VS Code
    // users see it: the guest runs to the first breakpoint).
    let mark = dap.events.length;
    await dap.ok('configurationDone', {});
    await dap.waitEvent('a continued event after configurationDone', 'continued', mark);
    ok('configurationDone: the adapter resumed the guest (continued event)');
    let stop = await waitStopped(dap, mark, 'configurationDone');
    expectEq('stopped at the breakpoint: reason', stop.reason, 'breakpoint');
    let frames = await expectTop(dap, threadId, 'breakpoint', 'sum_of_squares', [markers['sum-loop']]);
    const caller = frames[1] ? frames[1].name.replace(/\(.*$/, '') : '(none)';
    if (caller !== 'main' || typeof frames[1].line !== 'number') fail('stackTrace: the caller', 'main with a line', `${caller}:${frames[1] && frames[1].line}`);
    ok(`stackTrace: called from main at example.c:${frames[1].line}`);

    const frameId = frames[0].id;
    await expectLocals(dap, frameId, 'sum_of_squares, first round', { n: '4', sum: '0', i: '1' });

    // Registers: the pc is inside sum_of_squares, and is the frame's instruction pointer.
    const { registers } = await scopesOf(dap, frameId);
    const regs = await variables(dap, registers.variablesReference);
    if (!regs.rip) fail('the Registers scope', 'a rip register', Object.keys(regs).slice(0, 20).join(' '));
    const rip = BigInt(regs.rip.value.match(/0x[0-9a-f]+/i)[0]);
    const f = symbols.sum_of_squares;
    if (rip < f.start || rip >= f.end) fail('rip', `inside sum_of_squares [0x${f.start.toString(16)}, 0x${f.end.toString(16)})`, regs.rip.value);
    if (frames[0].instructionPointerReference && BigInt(frames[0].instructionPointerReference) !== rip) {
        fail('the frame\'s instructionPointerReference', regs.rip.value, frames[0].instructionPointerReference);
    }
    ok(`Registers scope: rip = 0x${rip.toString(16)}, inside sum_of_squares, the frame's instruction pointer` +
       (regs.rsp ? `; rsp = ${regs.rsp.value}` : ''));
    // kvmgdb's target description adds the system registers: long mode shows.
    if (!regs.cr0 || !regs.efer) fail('the Registers scope', 'cr0 and efer (kvmgdb\'s system registers)', Object.keys(regs).join(' '));
    const cr0 = BigInt(regs.cr0.value), efer = BigInt(regs.efer.value);
    if ((cr0 & 0x80000001n) !== 0x80000001n || (efer & 0x400n) === 0n) {
        fail('cr0 and efer in long mode', 'cr0.PG, cr0.PE and efer.LMA set', `cr0 ${regs.cr0.value}, efer ${regs.efer.value}`);
    }
    ok(`Registers scope: cr0 = ${regs.cr0.value}, efer = ${regs.efer.value} (paging, long mode active)`);

    expectEq('evaluate n * 10', await evaluate(dap, frameId, 'n * 10'), '40');

    // stepIn -> square, next -> its return line, stepOut -> back in sum_of_squares.
    mark = dap.events.length;
    await dap.ok('stepIn', { threadId });
    stop = await waitStopped(dap, mark, 'stepIn');
    expectEq('stepIn: reason', stop.reason, 'step');
    frames = await expectTop(dap, threadId, 'stepIn', 'square', [markers['square-body']]);
    await expectLocals(dap, frames[0].id, 'in square', { x: '1' });

    mark = dap.events.length;
    await dap.ok('next', { threadId });
    stop = await waitStopped(dap, mark, 'next');
    expectEq('next: reason', stop.reason, 'step');
    frames = await expectTop(dap, threadId, 'next', 'square', [markers['square-return']]);
    await expectLocals(dap, frames[0].id, 'square after next', { result: '1' });

    mark = dap.events.length;
    await dap.ok('stepOut', { threadId });
    stop = await waitStopped(dap, mark, 'stepOut');
    expectEq('stepOut: reason', stop.reason, 'step');
    frames = await expectTop(dap, threadId, 'stepOut', 'sum_of_squares', [markers['sum-loop']]);

    // A data breakpoint (VS Code's "Break on Value Change", gdb's watch) on the
    // global total: main's store of sum_of_squares' result stops the guest.
    await dap.ok('setBreakpoints', { source, breakpoints: [] });
    ok('setBreakpoints []: the breakpoint is removed');
    const info = await dap.ok('dataBreakpointInfo', { name: 'total', frameId: frames[0].id });
    if (!info.dataId || !(info.accessTypes || []).includes('write')) fail('dataBreakpointInfo total', 'a dataId with access type write', JSON.stringify(info));
    const data = await dap.ok('setDataBreakpoints', { breakpoints: [{ dataId: info.dataId, accessType: 'write' }] });
    if (!data.breakpoints || data.breakpoints.length !== 1 || !data.breakpoints[0].verified) {
        fail('setDataBreakpoints total (write)', 'one verified data breakpoint', JSON.stringify(data.breakpoints));
    }
    ok(`setDataBreakpoints: write watch on total (dataId ${info.dataId}) verified`);
    mark = dap.events.length;
    await dap.ok('continue', { threadId });
    stop = await waitStopped(dap, mark, 'continue to the data breakpoint');
    // cdt-gdb-adapter reports gdb's watchpoint-trigger as "generic"; a signal would be a fault.
    if (!['generic', 'data breakpoint'].includes(stop.reason)) fail('the stop at the data breakpoint: reason', 'generic or data breakpoint', stop.reason);
    ok(`the data breakpoint stopped the guest (reason ${stop.reason})`);
    frames = await expectTop(dap, threadId, 'data breakpoint', 'main', [markers['total-store'], markers['total-store'] + 1]);
    expectEq('evaluate total at the data breakpoint', await evaluate(dap, frames[0].id, 'total'), '30');
    await dap.ok('setDataBreakpoints', { breakpoints: [] });
    ok('setDataBreakpoints []: the watch is removed');

    // On into the wait loop; pause the running guest there.
    mark = dap.events.length;
    await dap.ok('continue', { threadId });
    await dap.waitEvent('a continued event after continue', 'continued', mark);
    await dap.waitUntil('the guest\'s "waiting" line in an output event',
                        () => /example: waiting/.test(dap.outputText(GUEST_CONSOLE, mark)));
    const early = dap.outputText(GUEST_CONSOLE);
    for (const line of ['example: hello from the guest', 'sum_of_squares(4) = 30', 'example: waiting']) {
        if (!early.includes(line)) fail('the guest\'s console in the debug console', `"${line}"`, JSON.stringify(early));
    }
    ok(`the guest's console reaches the debug console (output events, category "${GUEST_CONSOLE}")`);
    if (dap.events.slice(mark).some((e) => e.event === 'stopped')) fail('after continue', 'the guest running', 'a stop');
    // Let it spin a moment: the pause must interrupt a guest that is running.
    await new Promise((r) => setTimeout(r, 1500));
    mark = dap.events.length;
    await dap.ok('pause', { threadId });
    stop = await waitStopped(dap, mark, 'pause');
    if (!['pause', 'interrupt', 'SIGINT'].includes(stop.reason)) fail('pause: reason', 'pause, interrupt or SIGINT', stop.reason);
    ok(`pause: the running guest stopped (reason ${stop.reason})`);
    frames = await expectTop(dap, threadId, 'pause', 'wait_for_debugger', [markers['wait-loop'] - 1, markers['wait-loop']]);
    const waitFrame = frames[0].id;
    const pc = frames[0].instructionPointerReference;
    const { ref: waitLocals } = await expectLocals(dap, waitFrame, 'in the wait loop',
                                                   { released: '0', rounds: (v) => /^\d+$/.test(v) && Number(v) > 0 });
    if (dap.outputText(GUEST_CONSOLE).includes('released by the debugger')) fail('before setVariable', 'the guest still waiting', 'released');

    expectEq('evaluate total', await evaluate(dap, waitFrame, 'total'), '30');
    const totalAt = await evaluate(dap, waitFrame, '&total');
    if (!totalAt.includes(`0x${symbols.total.start.toString(16)}`)) fail('evaluate &total', `0x${symbols.total.start.toString(16)}`, totalAt);
    ok(`evaluate &total = ${totalAt}`);

    // readMemory: total's 4 bytes are 30; writeMemory over message, read back.
    const read = await dap.ok('readMemory', { memoryReference: `0x${symbols.total.start.toString(16)}`, offset: 0, count: 4 });
    const totalBytes = Buffer.from(read.data || '', 'base64');
    if (totalBytes.length !== 4 || totalBytes.readInt32LE(0) !== 30) fail('readMemory &total, 4 bytes', '1e 00 00 00', totalBytes.toString('hex'));
    ok(`readMemory: total's bytes at 0x${symbols.total.start.toString(16)} are ${totalBytes.toString('hex')} (30)`);
    const patch = Buffer.from('patched\0');
    const messageAt = `0x${symbols.message.start.toString(16)}`;
    const wrote = await dap.ok('writeMemory', { memoryReference: messageAt, offset: 0, data: patch.toString('base64') });
    if (wrote.bytesWritten !== undefined && wrote.bytesWritten !== patch.length) fail('writeMemory: bytesWritten', patch.length, wrote.bytesWritten);
    const back = await dap.ok('readMemory', { memoryReference: messageAt, offset: 0, count: patch.length });
    if (Buffer.from(back.data || '', 'base64').toString('hex') !== patch.toString('hex')) {
        fail('readMemory after writeMemory', patch.toString('hex'), Buffer.from(back.data || '', 'base64').toString('hex'));
    }
    ok(`writeMemory: "patched" written at message (${messageAt}) and read back`);
    // (plain `message`, an array, evaluates to "[16]": its varobj's value)
    const messageValue = await evaluate(dap, waitFrame, '(const char *)message');
    if (!messageValue.includes('"patched"')) fail('evaluate (const char *)message after writeMemory', '"patched"', messageValue);
    ok(`evaluate (const char *)message = ${messageValue}`);

    // disassemble at the pc: the instruction there, inside wait_for_debugger.
    const dis = await dap.ok('disassemble', { memoryReference: pc, offset: 0, instructionOffset: 0, instructionCount: 6, resolveSymbols: true });
    const instructions = dis.instructions || [];
    const atPc = instructions.find((i) => BigInt(i.address) === BigInt(pc));
    if (!atPc || !atPc.instruction) fail(`disassemble at ${pc}`, 'the instruction at the pc', JSON.stringify(instructions.slice(0, 3)));
    const wf = symbols.wait_for_debugger;
    if (instructions.some((i) => !i.instruction || i.instruction === '??')) fail('disassemble', 'an instruction for every address', JSON.stringify(instructions));
    if (BigInt(pc) < wf.start || BigInt(pc) >= wf.end) fail('the pc', 'inside wait_for_debugger', pc);
    ok(`disassemble: ${instructions.length} instructions from ${pc}, first "${atPc.instruction}"`);

    // setVariable released = 1: the guest leaves its loop and says so.
    const set = await dap.ok('setVariable', { variablesReference: waitLocals, name: 'released', value: '1' });
    expectEq('setVariable released: the new value', set.value, '1');
    await expectLocals(dap, waitFrame, 'after setVariable', { released: '1' });

    // continue: the guest prints, then ends with exit status 7; kvmgdb exits 7.
    mark = dap.events.length;
    await dap.ok('continue', { threadId });
    await dap.waitEvent('the terminated event at the guest\'s end', 'terminated', mark);
    const late = dap.outputText(GUEST_CONSOLE, mark);
    for (const line of ['example: released by the debugger', 'message: patched', 'example: done, exit status 7']) {
        if (!late.includes(line)) fail('the guest\'s output after setVariable and writeMemory', `"${line}"`, JSON.stringify(late));
    }
    ok('the guest saw setVariable (released) and writeMemory (message: patched)');
    const exitLine = await dap.waitUntil('the adapter reporting kvmgdb\'s exit',
                                         () => dap.outputText('server', mark).match(/gdbserver exited with code (\d+)/));
    expectEq('kvmgdb\'s exit status as the adapter reports it ("gdbserver exited with code N")', Number(exitLine[1]), EXIT_STATUS);
    const exited = dap.events.slice(mark).find((e) => e.event === 'exited');
    if (exited) expectEq('the exited event\'s exitCode', exited.body.exitCode, EXIT_STATUS);
    ok('terminated event after the guest\'s end');

    // disconnect: cdt-gdb-adapter answers with an error when its server exited
    // with a status other than 0 ("GDB server exited unexpectedly"), which is what
    // a guest's exit status 7 is to it.
    const disc = await dap.request('disconnect', { terminateDebuggee: true });
    if (!disc.success && !/exited unexpectedly/.test(disc.message || '')) fail('disconnect', 'success', `error "${disc.message}"`);
    ok(`disconnect answered (${disc.success ? 'success' : `"${disc.message}"`})`);
    const ended = dap.outputText('server', mark);
    if (!/^gdb exited$/m.test(ended)) fail('gdb at the end of the session', 'the adapter\'s "gdb exited"', JSON.stringify(ended));
    ok('gdb exited ("gdb exited")');
    // cdt-gdb-adapter keeps running after disconnect until its client lets go
    // (VS Code kills it): close its stdin, as a client going away does.
    dap.proc.stdin.end();
    const status = await Promise.race([dap.exited, new Promise((r) => setTimeout(() => r(undefined), 10_000))]);
    ok(status ? `the adapter exited when its stdin closed (${status.code !== null ? `status ${status.code}` : `signal ${status.signal}`})`
              : 'the adapter was still running 10 s after its stdin closed: killed, as VS Code does');
}

// ---------------------------------------------------------------- cppdbg

// ms-vscode.cpptools' adapter is not on npm, so the cppdbg configuration is
// checked the way VS Code uses it: its preLaunchTask is started as tasks.json
// says, VS Code's readiness signal (the endsPattern) must match kvmgdb's output,
// then gdb connects to miDebuggerServerAddress as cppdbg would (with a hardware
// breakpoint, as hardwareBreakpoints.require asks).
async function cppdbgTask(opts) {
    const config = mapBinaries(substitute(configurationOfType(loadVscodeFile('launch.json'), 'cppdbg'), 'launch.json'), opts);
    if (config.request !== 'launch' || config.MIMode !== 'gdb') fail('cppdbg configuration', 'request launch, MIMode gdb', `${config.request}, ${config.MIMode}`);
    if (config.program !== opts.guest) fail('cppdbg: program', DOC_GUEST, config.program);
    if (typeof config.stopAtConnect !== 'boolean') fail('cppdbg: stopAtConnect', 'a boolean', config.stopAtConnect);
    if (!config.hardwareBreakpoints || typeof config.hardwareBreakpoints.require !== 'boolean') {
        fail('cppdbg: hardwareBreakpoints', '{ "require": BOOLEAN, "limit": N }', JSON.stringify(config.hardwareBreakpoints));
    }
    const address = config.miDebuggerServerAddress || '';
    if (!/^[\w.]+:\d+$/.test(address)) fail('cppdbg: miDebuggerServerAddress', 'HOST:PORT', address);

    const tasks = mapBinaries(substitute(loadVscodeFile('tasks.json'), 'tasks.json'), opts);
    const task = (tasks.tasks || []).find((x) => x.label === config.preLaunchTask);
    if (!task) fail('tasks.json', `a task labelled "${config.preLaunchTask}" (cppdbg's preLaunchTask)`, 'none');
    if (task.command !== opts.kvmgdb) fail('the preLaunchTask: command', DOC_KVMGDB, task.command);
    const args = task.args || [];
    if (args[args.indexOf('--listen') + 1] !== address || args[args.length - 1] !== opts.guest) {
        fail('the preLaunchTask: args', `["--listen", "${address}", ..., the guest ELF]`, JSON.stringify(args));
    }
    const background = (task.problemMatcher || {}).background || {};
    if (!task.isBackground || !background.endsPattern) fail('the preLaunchTask', 'isBackground with a background.endsPattern', JSON.stringify(task));
    ok(`launch.json cppdbg + tasks.json: preLaunchTask "${task.label}" serves the guest on ${address}`);

    const server = spawn(task.command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    cleanups.add(() => server.kill('SIGKILL'));
    let text = '';
    let serverExit;
    const serverExited = new Promise((resolve) => server.on('exit', (code, signal) => { serverExit = { code, signal }; resolve(serverExit); }));
    try {
        const ends = new RegExp(background.endsPattern);
        await new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Failure(`the preLaunchTask's endsPattern /${background.endsPattern}/: no matching line in 60 s; kvmgdb printed ${JSON.stringify(text)}`)), 60_000);
            const onData = (chunk) => {
                text += chunk;
                if (text.split(/\r?\n/).some((line) => ends.test(line))) { clearTimeout(timer); resolve(); }
            };
            server.stdout.on('data', onData);
            server.stderr.on('data', onData);
            server.on('exit', () => { clearTimeout(timer); reject(new Failure(`kvmgdb of the preLaunchTask exited first: ${JSON.stringify(serverExit)}, printed ${JSON.stringify(text)}`)); });
        });
        ok(`the preLaunchTask's endsPattern matches kvmgdb's "${text.split(/\r?\n/).find((l) => new RegExp(background.endsPattern).test(l))}"`);

        const gdb = config.miDebuggerPath || 'gdb';
        const brk = config.hardwareBreakpoints.require ? 'hbreak' : 'break';
        const out = execFileSync(gdb, ['-nx', '-batch', config.program,
            '-ex', `target remote ${address}`, '-ex', `${brk} square`, '-ex', 'continue', '-ex', 'print x', '-ex', 'kill'],
        { encoding: 'utf8', timeout: 120_000, stdio: ['ignore', 'pipe', 'pipe'] });
        if (!/_start/.test(out) || !/square \(x=(x@entry=)?1\)/.test(out) || !/\$1 = 1/.test(out)) {
            fail(`gdb on miDebuggerServerAddress (${brk} square, continue)`, 'a stop at _start, then square (x=1), $1 = 1', JSON.stringify(out));
        }
        ok(`gdb connected to ${address}: stopped at _start (what stopAtConnect: true shows), ${brk} square hit with x=1`);
        const status = await Promise.race([serverExited, new Promise((r) => setTimeout(() => r(undefined), 15_000))]);
        if (!status || status.code !== 0) fail('kvmgdb after gdb\'s kill', 'exit status 0', JSON.stringify(status));
        ok('kvmgdb exited 0 after kill');
    } finally {
        if (!serverExit) server.kill('SIGKILL');
    }
}

// ---------------------------------------------------------------- main

async function main() {
    const opts = parseOptions(process.argv.slice(2));
    if (opts.logDir) fs.mkdirSync(opts.logDir, { recursive: true });
    const timer = setTimeout(() => {
        console.log(`FAIL: global timeout: the test took longer than ${opts.timeout} s`);
        for (const c of cleanups) c();
        process.exit(1);
    }, opts.timeout * 1000);
    try {
        const markers = sourceMarkers();
        const symbols = guestSymbols(opts.guest);
        for (const name of ['sum_of_squares', 'square', 'wait_for_debugger', 'total', 'message']) {
            if (!symbols[name]) throw new Failure(`the guest ${opts.guest} has no symbol ${name}`);
        }
        checkDocs();
        await gdbTargetSession(opts, markers, symbols);
        await cppdbgTask(opts);
    } catch (e) {
        console.log(`FAIL: ${e instanceof Failure ? e.message : e.stack}`);
        for (const c of cleanups) c();
        process.exit(1);
    }
    clearTimeout(timer);
    console.log('dap.session: all checks passed');
    process.exit(0);
}

main();

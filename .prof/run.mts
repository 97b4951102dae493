import { spawn } from 'node:child_process'
import ollama from '/work/main/src/index.ts'
import { benchServer, waitReady } from '/work/main/bench/harness.ts'
import { startUpstream } from '/work/main/bench/upstream.ts'
const upstream = await startUpstream({}, 'fast')
const { url, close } = await benchServer({ server: { host: '127.0.0.1' }, plugins: [ollama({ engine: 'external', url: upstream.url, models: ['llama3.2'], warmup: false, overlay: false })] }) as any
await waitReady(url)
const flood = spawn(process.execPath, ['-e', `
let n=0; const end=Date.now()+6000; const statuses={};
async function loop(){ while(Date.now()<end){ const r=await fetch('${url}/__ollama/pull',{method:'POST',headers:{'Content-Type':'application/json'},body:JSON.stringify({model:'m'+(n++)+process.pid})}); statuses[r.status]=(statuses[r.status]??0)+1; await r.text() } }
await Promise.all(Array.from({length:8},loop)); console.log(n, JSON.stringify(statuses))`], { stdio: 'inherit' })
await new Promise((r) => flood.on('exit', r))
await close?.()
await upstream.stop()
process.exit(0)

import { defineConfig } from 'vite'
// In your app: import ollama from 'vite-plugin-ollama'
import ollama from '../src/index.ts'

export default defineConfig({
  plugins: [
    ollama({
      models: ['llama3.2:1b'],
      // No Docker and no Ollama on this machine? Chat with the simulator instead, clearly marked.
      fallback: 'simulator',
      // `OLLAMA_ENGINE=simulator npm run dev` forces the simulator, as the e2e tests do.
      engine: (process.env.OLLAMA_ENGINE as 'auto' | undefined) ?? 'auto',
    }),
  ],
})

// Placeholder values for the ${env:...} references of otel-config/*.yaml when a test or the CLI
// validates or runs them outside a pod.
export const VALIDATE_ENV: Readonly<Record<string, string>> = {
  MY_POD_IP: '127.0.0.1',
  K8S_NODE_NAME: 'node-1',
  POD_NAME: 'chat-assistant-5d9c7b-x2x9z',
  POD_NAMESPACE: 'ai-platform',
  POD_UID: '0f4a2a9e-1b5c-4c56-9a43-6c1a0f6b2d11',
  POD_IP: '10.0.0.12',
};

// The parsers `npm run fuzz` knows (fuzz-targets.ts builds each; fuzz.ts loads that module only in
// the child processes that run cases, after the allocation tracker is installed).
export const TARGET_NAMES = ['safetensors', 'pth-zip', 'pth-legacy', 'pickle', 'config', 'image', 'bmp', 'onnx'] as const;

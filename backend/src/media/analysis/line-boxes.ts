/**
 * Step 2 of the OCR (ocr-pipeline.ts): the text boxes found in detection's map, each cut out
 * of the picture straight. The steps, sizes and thresholds of @gutenye/ocr-common's
 * splitIntoLineImages (PaddleOCR's DB post-processing), which this replaces, so the boxes,
 * their order and their pixels are the same:
 *
 * 1. the outlines of the text in the map (OpenCV's findContours, every outline, corners only);
 * 2. each outline's smallest enclosing rectangle, at any angle; one less than 3 px across is
 *    dropped;
 * 3. that rectangle grown outwards as PaddleOCR's `unclip` grows it (by area × 1.5 /
 *    perimeter, corners rounded, with js-clipper as the package does), and the grown
 *    shape's enclosing rectangle taken again; one less than 5 px across is dropped;
 * 4. its corners scaled to the picture, rounded and kept inside it; a box 3 px or less wide
 *    or high is dropped;
 * 5. the box cut out straight (a perspective warp, bicubic, edges repeated); one at least
 *    1.5 times taller than wide is turned a quarter anticlockwise (text running down the
 *    picture then reads left to right; text running up it comes out upside down, which
 *    the direction classifier, step 3 of the OCR, turns).
 *
 * What differs is memory. OpenCV.js objects live in its WebAssembly heap, which JavaScript's
 * garbage collector does not see and which never shrinks: each must be deleted by hand.
 * splitIntoLineImages left several per line (the outline, the grown box, both warp
 * matrices, the line's own pixels) and copied the whole picture into that heap once per
 * line; its heap grew about 8 MB per page of 30 lines until its 1 GB ceiling. Here every
 * object is deleted (try/finally), the picture is copied in once per picture, and each
 * line's pixels are copied out into a plain Uint8Array before its image is deleted (a view
 * into the heap would also go blank whenever the heap grows).
 */
import openCv from '@techstark/opencv-js';
// @ts-expect-error -- js-clipper ships no types: its export is Clipper's ClipperLib (6.1.3a).
import clipperLib from 'js-clipper';
import type { RgbaImage } from './ocr-pipeline.js';

/** One byte a pixel, row after row: detection's map, 255 where there is text, else 0. */
export interface GrayImage {
  data: Uint8Array;
  width: number;
  height: number;
}
/**
 * A line: its corners on the picture (splitIntoLineImages' order: the two left-most
 * corners first, upper then lower of the right-most two, then the lower left-most —
 * `box[0]` top left and `box[2]` bottom right for an upright line), and its pixels.
 */
export interface LineCut {
  box: number[][];
  image: RgbaImage;
}

/** The part of OpenCV.js used here (the package's own types leave most of it out). */
interface Mat {
  readonly rows: number;
  readonly cols: number;
  /** A view into the WebAssembly heap: valid until the heap next grows. */
  readonly data: Uint8Array;
  delete(): void;
}
interface OpenCv {
  then(ready: () => void): unknown;
  Mat: new (rows?: number, cols?: number, type?: number) => Mat;
  MatVector: new () => { size(): number; get(i: number): Mat; delete(): void };
  Size: new (width: number, height: number) => object;
  Point: new (x: number, y: number) => object;
  Scalar: new () => object;
  matFromArray(rows: number, cols: number, type: number, values: number[]): Mat;
  findContours(
    image: Mat,
    contours: InstanceType<OpenCv['MatVector']>,
    hierarchy: Mat,
    mode: number,
    method: number,
  ): void;
  minAreaRect(points: Mat): {
    center: { x: number; y: number };
    size: { width: number; height: number };
    angle: number;
  };
  getPerspectiveTransform(from: Mat, to: Mat): Mat;
  getRotationMatrix2D(center: object, angle: number, scale: number): Mat;
  warpPerspective(
    src: Mat,
    dst: Mat,
    m: Mat,
    size: object,
    flags: number,
    border: number,
    value: object,
  ): void;
  warpAffine(src: Mat, dst: Mat, m: Mat, size: object, flags: number, border: number, value: object): void;
  CV_8UC1: number;
  CV_8UC4: number;
  CV_32SC2: number;
  CV_32FC2: number;
  RETR_LIST: number;
  CHAIN_APPROX_SIMPLE: number;
  INTER_CUBIC: number;
  BORDER_REPLICATE: number;
}
interface Clipper {
  ClipperOffset: new () => {
    AddPath(path: { X: number; Y: number }[], join: number, end: number): void;
    Execute(solution: { X: number; Y: number }[][], delta: number): void;
  };
  JoinType: { jtRound: number };
  EndType: { etClosedPolygon: number };
}

const cv = openCv as unknown as OpenCv;
const clipper = clipperLib as Clipper;

/** A box less than this across (before growing it) is not text. */
const MIN_SIDE = 3;
/** PaddleOCR's `unclip_ratio`: how far a box is grown, relative to its area over its perimeter. */
const UNCLIP_RATIO = 1.5;
/** A box at least this much taller than wide holds text running down the picture. */
const TURN_RATIO = 1.5;

let ready: Promise<void> | undefined;
/** OpenCV's WebAssembly is compiled after its module loads: this resolves once it is ready. */
export function openCvReady(): Promise<void> {
  ready ??= new Promise((resolve) => cv.then(() => resolve()));
  return ready;
}

/**
 * The lines in `source` whose text `mask` shows (detection's map, which may be smaller: boxes
 * are scaled to the source), in the order OpenCV finds their outlines. Needs openCvReady().
 */
export function cutLines(mask: GrayImage, source: RgbaImage): LineCut[] {
  const scaleX = source.width / mask.width;
  const scaleY = source.height / mask.height;
  const lines: LineCut[] = [];
  const contours = new cv.MatVector();
  const hierarchy = new cv.Mat();
  /** The picture in OpenCV's heap, copied there for the first line found. */
  let picture: Mat | undefined;
  try {
    const map = new cv.Mat(mask.height, mask.width, cv.CV_8UC1);
    try {
      map.data.set(mask.data);
      cv.findContours(map, contours, hierarchy, cv.RETR_LIST, cv.CHAIN_APPROX_SIMPLE);
    } finally {
      map.delete();
    }
    for (let i = 0; i < contours.size(); i += 1) {
      const outline = contours.get(i);
      let found: MiniBox;
      try {
        found = miniBox(outline);
      } finally {
        outline.delete();
      }
      if (found.side < MIN_SIDE) continue;
      const grown = unclip(found.points);
      // Never empty for a box 3 px across or more (the package would throw on it here).
      if (grown.length === 0) continue;
      const grownMat = cv.matFromArray(grown.length / 2, 1, cv.CV_32SC2, grown);
      let boxed: MiniBox;
      try {
        boxed = miniBox(grownMat);
      } finally {
        grownMat.delete();
      }
      if (boxed.side < MIN_SIDE + 2) continue;
      const box = boxed.points;
      for (const point of box) {
        point[0] = point[0]! * scaleX;
        point[1] = point[1]! * scaleY;
      }
      // As the package does: the corners put in clockwise order are the same arrays as the
      // box's, so rounding and clipping them rounds and clips the box, which stays in its
      // own order (that order is what is cut out and returned).
      const clockwise = orderClockwise(box);
      for (const point of clockwise) {
        point[0] = clip(Math.round(point[0]!), 0, source.width);
        point[1] = clip(Math.round(point[1]!), 0, source.height);
      }
      const width = Math.trunc(distance(clockwise[0]!, clockwise[1]!));
      const height = Math.trunc(distance(clockwise[0]!, clockwise[3]!));
      if (width <= 3 || height <= 3) continue;
      if (!picture) {
        picture = new cv.Mat(source.height, source.width, cv.CV_8UC4);
        picture.data.set(source.data);
      }
      lines.push({ box, image: cutOut(picture, box) });
    }
    return lines;
  } finally {
    picture?.delete();
    contours.delete();
    hierarchy.delete();
  }
}

interface MiniBox {
  points: number[][];
  /** The rectangle's shorter side. */
  side: number;
}

/** The smallest rectangle around the points, its corners in splitIntoLineImages' order. */
function miniBox(points: Mat): MiniBox {
  const { center, size, angle } = cv.minAreaRect(points);
  const corners = rectangleCorners(center, size, angle).sort((a, b) => a[0]! - b[0]!);
  const [first, second, third, fourth] = corners as [number[], number[], number[], number[]];
  const [topLeft, bottomLeft] = second[1]! > first[1]! ? [first, second] : [second, first];
  const [topRight, bottomRight] = fourth[1]! > third[1]! ? [third, fourth] : [fourth, third];
  return { points: [topLeft, topRight, bottomRight, bottomLeft], side: Math.min(size.width, size.height) };
}

/** The corners of a rotated rectangle, computed as the package computes them (not cv.boxPoints). */
function rectangleCorners(
  center: { x: number; y: number },
  size: { width: number; height: number },
  angle: number,
): number[][] {
  const theta = (angle * Math.PI) / 180;
  const cos = Math.cos(theta);
  const sin = Math.sin(theta);
  const dx = size.width * 0.5;
  const dy = size.height * 0.5;
  return [
    [center.x - dx * cos + dy * sin, center.y - dx * sin - dy * cos],
    [center.x + dx * cos + dy * sin, center.y + dx * sin - dy * cos],
    [center.x + dx * cos - dy * sin, center.y + dx * sin + dy * cos],
    [center.x - dx * cos - dy * sin, center.y - dx * sin + dy * cos],
  ];
}

/**
 * PaddleOCR's unclip: the polygon grown outwards by area × ratio / perimeter, corners
 * rounded (Clipper's offset, whose points are whole numbers), as a flat list x, y, x, y…
 */
function unclip(polygon: number[][]): number[] {
  const offset = new clipper.ClipperOffset();
  offset.AddPath(
    polygon.map(([x, y]) => ({ X: x!, Y: y! })),
    clipper.JoinType.jtRound,
    clipper.EndType.etClosedPolygon,
  );
  const grown: { X: number; Y: number }[][] = [];
  offset.Execute(grown, (Math.abs(area(polygon)) * UNCLIP_RATIO) / perimeter(polygon));
  return (grown[0] ?? []).flatMap((p) => [p.X, p.Y]);
}

/** The polygon's signed area (the shoelace formula, in the package's order of terms). */
function area(polygon: number[][]): number {
  let sum = 0;
  let b = polygon[polygon.length - 1]!;
  for (const a of polygon) {
    sum += b[1]! * a[0]! - b[0]! * a[1]!;
    b = a;
  }
  return sum / 2;
}

function perimeter(polygon: number[][]): number {
  let sum = 0;
  let b = polygon[polygon.length - 1]!;
  for (const a of polygon) {
    sum += Math.hypot(b[0]! - a[0]!, b[1]! - a[1]!);
    b = a;
  }
  return sum;
}

/**
 * The package's orderPointsClockwise: top left (least x + y), bottom right (most), and the
 * other two by the sign of their difference. Returns the same point arrays, not copies.
 */
function orderClockwise(points: number[][]): number[][] {
  const sums = points.map((p) => p[0]! + p[1]!);
  const first = points[sums.indexOf(Math.min(...sums))]!;
  const third = points[sums.indexOf(Math.max(...sums))]!;
  const rest = points.filter((p) => p !== first && p !== third);
  const diff = rest[1]!.map((value, n) => value - rest[0]![n]!);
  return [first, rest[diff.indexOf(Math.min(...diff))]!, third, rest[diff.indexOf(Math.max(...diff))]!];
}

function clip(n: number, min: number, max: number): number {
  return Math.max(min, Math.min(n, max));
}

function distance(a: number[], b: number[]): number {
  return Math.sqrt((a[0]! - b[0]!) ** 2 + (a[1]! - b[1]!) ** 2);
}

/**
 * The box cut out of the picture straight, turned a quarter anticlockwise if it is much
 * taller than wide, its pixels copied out of OpenCV's heap. Every Mat made is deleted.
 */
function cutOut(picture: Mat, box: number[][]): RgbaImage {
  const [p0, p1, p2, p3] = box as [number[], number[], number[], number[]];
  const width = Math.trunc(Math.max(distance(p0, p1), distance(p2, p3)));
  const height = Math.trunc(Math.max(distance(p0, p3), distance(p1, p2)));
  const mats: Mat[] = [];
  const made = (mat: Mat) => {
    mats.push(mat);
    return mat;
  };
  try {
    const from = made(cv.matFromArray(4, 1, cv.CV_32FC2, box.flat()));
    const to = made(cv.matFromArray(4, 1, cv.CV_32FC2, [0, 0, width, 0, width, height, 0, height]));
    const warp = made(cv.getPerspectiveTransform(from, to));
    let line = made(new cv.Mat());
    cv.warpPerspective(
      picture,
      line,
      warp,
      new cv.Size(width, height),
      cv.INTER_CUBIC,
      cv.BORDER_REPLICATE,
      new cv.Scalar(),
    );
    if (line.rows / line.cols >= TURN_RATIO) {
      // The package's turn, exactly: 90° about (cols / 2, cols / 2) into rows × cols.
      const turn = made(cv.getRotationMatrix2D(new cv.Point(line.cols / 2, line.cols / 2), 90, 1));
      const turned = made(new cv.Mat());
      cv.warpAffine(
        line,
        turned,
        turn,
        new cv.Size(line.rows, line.cols),
        cv.INTER_CUBIC,
        cv.BORDER_REPLICATE,
        new cv.Scalar(),
      );
      line = turned;
    }
    return { data: line.data.slice(), width: line.cols, height: line.rows };
  } finally {
    for (const mat of mats) mat.delete();
  }
}

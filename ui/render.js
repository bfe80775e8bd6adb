// Draws I420 frames on a canvas with WebGL: three single-channel textures, converted to RGB (BT.601,
// limited range) in the fragment shader, so the CPU never touches pixels.

import { Channel, invoke } from "./dom.js";

const VERTEX = `attribute vec2 p; varying vec2 uv;
void main() { uv = vec2((p.x + 1.0) / 2.0, (1.0 - p.y) / 2.0); gl_Position = vec4(p, 0.0, 1.0); }`;
const FRAGMENT = `precision mediump float; varying vec2 uv; uniform sampler2D ty, tu, tv;
void main() {
  float y = 1.1643 * (texture2D(ty, uv).r - 0.0625);
  float u = texture2D(tu, uv).r - 0.5, v = texture2D(tv, uv).r - 0.5;
  gl_FragColor = vec4(y + 1.5958 * v, y - 0.39173 * u - 0.81290 * v, y + 2.017 * u, 1.0);
}`;

const utf8 = new TextDecoder();

/** A frame from the app: width, height and the tag's length (u32 little-endian), the tag (whose video:
 * a participant's peer id, empty for the preview), then the I420 planes from `offset`. */
export function frameHeader(buffer) {
  const head = new DataView(buffer, 0, 12);
  const width = head.getUint32(0, true), height = head.getUint32(4, true), tagLength = head.getUint32(8, true);
  return { width, height, tag: utf8.decode(new Uint8Array(buffer, 12, tagLength)), offset: 12 + tagLength };
}

export class I420Renderer {
  constructor(canvas) {
    this.canvas = canvas;
    const gl = canvas.getContext("webgl", { preserveDrawingBuffer: true });
    if (!gl) throw new Error("WebGL is not available");
    this.gl = gl;
    const shader = (type, src) => { const s = gl.createShader(type); gl.shaderSource(s, src); gl.compileShader(s); return s; };
    const prog = gl.createProgram();
    gl.attachShader(prog, shader(gl.VERTEX_SHADER, VERTEX));
    gl.attachShader(prog, shader(gl.FRAGMENT_SHADER, FRAGMENT));
    gl.linkProgram(prog);
    gl.useProgram(prog);
    gl.bindBuffer(gl.ARRAY_BUFFER, gl.createBuffer());
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
    const p = gl.getAttribLocation(prog, "p");
    gl.enableVertexAttribArray(p);
    gl.vertexAttribPointer(p, 2, gl.FLOAT, false, 0, 0);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    this.textures = ["ty", "tu", "tv"].map((name, i) => {
      const t = gl.createTexture();
      gl.activeTexture(gl.TEXTURE0 + i);
      gl.bindTexture(gl.TEXTURE_2D, t);
      for (const k of [gl.TEXTURE_MIN_FILTER, gl.TEXTURE_MAG_FILTER]) gl.texParameteri(gl.TEXTURE_2D, k, gl.LINEAR);
      for (const k of [gl.TEXTURE_WRAP_S, gl.TEXTURE_WRAP_T]) gl.texParameteri(gl.TEXTURE_2D, k, gl.CLAMP_TO_EDGE);
      gl.uniform1i(gl.getUniformLocation(prog, name), i);
      return t;
    });
  }

  /** `buffer`: a frame as [`frameHeader`] reads it. */
  draw(buffer, header = frameHeader(buffer)) {
    const { width: w, height: h, offset } = header;
    const gl = this.gl;
    const resized = this.canvas.width !== w || this.canvas.height !== h || !this.allocated;
    if (resized) {
      this.canvas.width = w;
      this.canvas.height = h;
      gl.viewport(0, 0, w, h);
      this.allocated = true;
    }
    const ySize = w * h, cSize = (w / 2) * (h / 2);
    const planes = [
      [new Uint8Array(buffer, offset, ySize), w, h],
      [new Uint8Array(buffer, offset + ySize, cSize), w / 2, h / 2],
      [new Uint8Array(buffer, offset + ySize + cSize, cSize), w / 2, h / 2],
    ];
    planes.forEach(([data, pw, ph], i) => {
      gl.activeTexture(gl.TEXTURE0 + i);
      gl.bindTexture(gl.TEXTURE_2D, this.textures[i]);
      // Allocate on a size change, then only upload into the existing texture.
      if (resized) gl.texImage2D(gl.TEXTURE_2D, 0, gl.LUMINANCE, pw, ph, 0, gl.LUMINANCE, gl.UNSIGNED_BYTE, data);
      else gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, pw, ph, gl.LUMINANCE, gl.UNSIGNED_BYTE, data);
    });
    gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
  }
}

// One renderer per canvas, kept across calls (a canvas has one WebGL context).
const renderers = new WeakMap();

/** A channel for our own camera's frames (the call's self-view, the device check): each is drawn on
 * `canvas`, then `drawn()` runs and the app is told, so the next frame may come. */
export function previewChannel(canvas, drawn = () => {}) {
  const channel = new Channel();
  channel.onmessage = (buffer) => {
    try {
      if (!renderers.has(canvas)) renderers.set(canvas, new I420Renderer(canvas));
      renderers.get(canvas).draw(buffer);
      drawn();
    } catch (e) {
      console.error(e);
    }
    invoke("frame_shown", { preview: true });
  };
  return channel;
}

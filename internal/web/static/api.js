// The management API, with the caller's token, and its one error shape.

// ApiError is an API error: {"error": {"code", "message", "details"}}.
export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

// errorFrom reads an error response body (or what came instead of one).
function errorFrom(status, statusText, text) {
  try {
    const e = JSON.parse(text).error;
    if (e && typeof e.message === 'string') return new ApiError(status, e.code ?? '', e.message, e.details);
  } catch {
    // not the API's shape: a proxy's page, an empty body
  }
  const message = text && text.length < 300 ? text.trim() : `${status} ${statusText || 'error'}`;
  return new ApiError(status, status ? 'http_error' : 'network_error', message || 'the server could not be reached', undefined);
}

export class Api {
  // token is sent as a bearer token (none: the server may not need one);
  // onUnauthorized is told when the server refuses it.
  constructor(token, onUnauthorized) {
    this.token = token;
    this.onUnauthorized = onUnauthorized;
  }

  headers(extra = {}) {
    const h = {...extra};
    if (this.token) h.Authorization = `Bearer ${this.token}`;
    return h;
  }

  async request(method, path, body) {
    const init = {method, headers: this.headers(), cache: 'no-store'};
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (err) {
      throw new ApiError(0, 'network_error', `the server could not be reached: ${err.message}`);
    }
    const text = await res.text();
    if (!res.ok) {
      const err = errorFrom(res.status, res.statusText, text);
      if (res.status === 401) this.onUnauthorized?.(err);
      throw err;
    }
    return text ? JSON.parse(text) : null;
  }

  get(path) { return this.request('GET', path); }
  post(path, body) { return this.request('POST', path, body); }
  put(path, body) { return this.request('PUT', path, body); }
  del(path) { return this.request('DELETE', path); }

  // upload sends an archive as multipart form data, with the non-empty
  // fields; fetch cannot report upload progress, XMLHttpRequest can.
  // onProgress gets a fraction.
  upload(path, file, fields, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', path);
      for (const [k, v] of Object.entries(this.headers())) xhr.setRequestHeader(k, v);
      xhr.upload.addEventListener('progress', (e) => {
        if (e.lengthComputable) onProgress?.(e.loaded / e.total);
      });
      xhr.addEventListener('load', () => {
        if (xhr.status >= 200 && xhr.status < 300) {
          resolve(xhr.responseText ? JSON.parse(xhr.responseText) : null);
          return;
        }
        const err = errorFrom(xhr.status, xhr.statusText, xhr.responseText);
        if (xhr.status === 401) this.onUnauthorized?.(err);
        reject(err);
      });
      xhr.addEventListener('error', () => reject(new ApiError(0, 'network_error', 'the upload did not reach the server')));
      const form = new FormData();
      for (const [k, v] of Object.entries(fields)) if (v) form.append(k, v);
      form.append('plugin', file, file.name);
      xhr.send(form);
    });
  }
}

// pluginPath is the management path of one plugin.
export const pluginPath = (id, rest = '') => `/api/plugins/${encodeURIComponent(id)}${rest}`;

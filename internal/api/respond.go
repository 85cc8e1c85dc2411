package api

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// CORS settings of preflight answers: the headers a browser page sends when
// it signs its requests with SigV4 (the Function URL's AWS_IAM auth) and
// revalidates with If-None-Match.
const (
	corsAllowMethods = "GET, HEAD"
	corsAllowHeaders = "Authorization, Content-Type, If-None-Match, X-Amz-Date, X-Amz-Security-Token, X-Amz-Content-Sha256"
	corsMaxAge       = "3600"
)

// ok writes a successful answer: 200 with its body, or 304 with none when
// the request's If-None-Match holds the body's ETag.
func (h *Handler) ok(w http.ResponseWriter, r *http.Request, a answer) int {
	sum := sha256.Sum256(a.body)
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
	hd := w.Header()
	hd.Set("Cache-Control", a.cache)
	hd.Set("ETag", etag)
	if noneMatch(r.Header.Values("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return http.StatusNotModified
	}
	return write(w, r, http.StatusOK, a.body)
}

// fail writes err as a JSON error: a clientError as it is, anything else as
// a 500 whose cause is logged, never shown.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) int {
	var ce *clientError
	if !errors.As(err, &ce) {
		h.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.EscapedPath(), "error", err.Error())
		ce = &clientError{status: http.StatusInternalServerError, code: codeInternal, message: "internal error"}
	}
	body, _ := json.Marshal(map[string]map[string]string{"error": {"code": ce.code, "message": ce.message}})
	w.Header().Set("Cache-Control", cacheNever)
	return write(w, r, ce.status, body)
}

// write writes a JSON body with its status (no body for HEAD).
func write(w http.ResponseWriter, r *http.Request, status int, body []byte) int {
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
	return status
}

// options answers OPTIONS: a CORS preflight from an allowed origin gets what
// it asks for; any OPTIONS gets Allow.
func (h *Handler) options(w http.ResponseWriter, r *http.Request) int {
	hd := w.Header()
	hd.Set("Allow", allow)
	if r.Header.Get("Access-Control-Request-Method") != "" && hd.Get("Access-Control-Allow-Origin") != "" {
		hd.Set("Access-Control-Allow-Methods", corsAllowMethods)
		hd.Set("Access-Control-Allow-Headers", corsAllowHeaders)
		hd.Set("Access-Control-Max-Age", corsMaxAge)
	}
	w.WriteHeader(http.StatusNoContent)
	return http.StatusNoContent
}

// cors sets the CORS headers of every answer to a request from an allowed
// origin.
func (h *Handler) cors(w http.ResponseWriter, r *http.Request) {
	if len(h.origins) == 0 {
		return
	}
	hd := w.Header()
	if slices.Contains(h.origins, "*") {
		if r.Header.Get("Origin") != "" {
			hd.Set("Access-Control-Allow-Origin", "*")
			hd.Set("Access-Control-Expose-Headers", "ETag")
		}
		return
	}
	hd.Add("Vary", "Origin") // the answer's headers depend on it
	if origin := r.Header.Get("Origin"); origin != "" && slices.Contains(h.origins, origin) {
		hd.Set("Access-Control-Allow-Origin", origin)
		hd.Set("Access-Control-Expose-Headers", "ETag")
	}
}

// noneMatch reports whether If-None-Match header values match etag, with the
// weak comparison RFC 9110 prescribes for it ("*" matches any).
func noneMatch(values []string, etag string) bool {
	for _, v := range values {
		for tag := range strings.SplitSeq(v, ",") {
			tag = strings.TrimSpace(tag)
			if tag == "*" || strings.TrimPrefix(tag, "W/") == etag {
				return true
			}
		}
	}
	return false
}

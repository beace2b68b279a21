// Package web is the customer web page at "/", embedded in the binary and
// calling the public API from the same origin.
package web

import (
	"bytes"
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed index.html assets
var files embed.FS

// contentTypes are fixed here because MIME tables differ between systems.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
}

// csp allows only this origin's own files: no inline code, no framing.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"

// Handler serves index.html at "/" and assets/ under "/assets/".
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := ""
		switch p := r.URL.Path; {
		case p == "/":
			name = "index.html"
		case strings.HasPrefix(p, "/assets/"):
			name = "assets/" + strings.TrimPrefix(p, "/assets/")
		}
		b, ok := lookup(name)
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", contentTypes[path.Ext(name)])
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		// The page holds an access token, so no browser or proxy may keep it.
		h.Set("Cache-Control", "no-store")
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
	})
}

// lookup refuses folders and names that leave the tree.
func lookup(name string) ([]byte, bool) {
	if _, known := contentTypes[path.Ext(name)]; !known || !fs.ValidPath(name) {
		return nil, false
	}
	b, err := files.ReadFile(name)
	return b, err == nil
}

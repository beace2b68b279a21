package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHandler(t *testing.T) {
	tests := []struct {
		name        string
		path        string
		status      int
		contentType string
		body        string
	}{
		{"index_is_served_at_the_root", "/", http.StatusOK, "text/html; charset=utf-8", `<script src="/assets/app.js"`},
		{"script_is_served_as_javascript", "/assets/app.js", http.StatusOK, "text/javascript; charset=utf-8", "sessionStorage"},
		{"stylesheet_is_served_as_css", "/assets/app.css", http.StatusOK, "text/css; charset=utf-8", ":focus-visible"},
		{"unknown_asset_is_404", "/assets/nope.js", http.StatusNotFound, "", ""},
		{"asset_folder_is_not_listed", "/assets/", http.StatusNotFound, "", ""},
		{"index_is_not_an_asset", "/assets/index.html", http.StatusNotFound, "", ""},
		{"path_leaving_the_folder_is_404", "/assets/../index.html", http.StatusNotFound, "", ""},
		{"other_paths_are_404", "/index.html", http.StatusNotFound, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.URL.Path = tt.path // as the mux hands it over, unclean paths included
			Handler().ServeHTTP(rec, req)
			require.Equal(t, tt.status, rec.Code, "status")
			if tt.status != http.StatusOK {
				return
			}
			h := rec.Header()
			assert.Equal(t, tt.contentType, h.Get("Content-Type"), "Content-Type")
			assert.Contains(t, rec.Body.String(), tt.body, "body")
			csp := h.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'"} {
				assert.Contains(t, csp, want, "Content-Security-Policy")
			}
			assert.NotContains(t, csp, "unsafe-inline", "Content-Security-Policy allows inline code")
			for k, want := range map[string]string{
				"X-Content-Type-Options": "nosniff",
				"Referrer-Policy":        "no-referrer",
				"Cache-Control":          "no-store",
			} {
				assert.Equal(t, want, h.Get(k), k)
			}
		})
	}
}

// The CSP forbids inline code: the page must not need any.
func TestIndexHasNoInlineCode(t *testing.T) {
	b, err := files.ReadFile("index.html")
	require.NoError(t, err)
	page := string(b)
	for _, bad := range []string{"<script>", "<style", " style=", " onclick=", " onsubmit=", "javascript:", "http://", "https://"} {
		if strings.Contains(page, bad) {
			t.Errorf("index.html contains %q (inline code or an outside resource)", bad)
		}
	}
}

package ports

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/bankabc/vouchers/api"
	"github.com/bankabc/vouchers/kit/errs"
	"github.com/bankabc/vouchers/kit/httpx"
)

var spec = api.MustLoad()

// enforceContract checks public requests against the OpenAPI document
// before any handler runs. Paths the document lacks go on to the mux.
func enforceContract(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ex, err := spec.Match(r)
		switch {
		case errors.Is(err, api.ErrNoOperation):
			next.ServeHTTP(w, r)
			return
		case errors.Is(err, api.ErrMethodNotAllowed):
			allowed := strings.Join(spec.Allowed(r), ", ")
			w.Header().Set("Allow", allowed)
			httpx.WriteProblem(w, r, errs.E(errs.MethodNotAllowed, "%s is not allowed here; allowed: %s", r.Method, allowed))
			return
		}
		// A topic delivery has its own body limit.
		r.Body = http.MaxBytesReader(w, r.Body, httpx.MaxBodyBytes)
		if err := spec.CheckMatched(r, ex); err != nil {
			// Name the route in metrics as the mux would, not as unmatched.
			r.Pattern = ex.Operation
			httpx.WriteError(w, r, log, errs.E(httpx.BodyKind(err), "%s", err.Error()))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func handleOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(api.OpenAPI)
}

func handleNotFound(w http.ResponseWriter, r *http.Request) {
	httpx.WriteProblem(w, r, errs.E(errs.NotFound, "no such resource: %s %s (see /openapi.yaml)", r.Method, r.URL.Path))
}

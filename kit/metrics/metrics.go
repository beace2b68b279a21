// Package metrics names every Prometheus metric of our apps, in one place
// and under one prefix (vouchers_), as the event contracts are named in
// api/events: dashboards and alerts depend on these names. Each app serves
// its own registry at GET /metrics (kit/service.Run) and registers only
// the metrics it moves. docs/observability.md lists them with their labels.
//
// The types here satisfy the small interfaces the app packages declare
// (e.g. gateway's PurchaseMetrics), so the app code knows no Prometheus.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every metric name.
const Namespace = "vouchers"

// NewRegistry is an app's own registry, with the Go runtime's and the
// process's collectors (go_*, process_*).
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves reg in the Prometheus text format.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// HTTP counts the requests an app serves: by route (the ServeMux pattern
// that matched, never the raw path, so ids do not make new series),
// method and status, with their duration.
type HTTP struct {
	RequestsTotal *prometheus.CounterVec
	Seconds       *prometheus.HistogramVec
}

// NewHTTP registers vouchers_http_requests_total and
// vouchers_http_request_duration_seconds.
func NewHTTP(reg prometheus.Registerer) *HTTP {
	m := &HTTP{
		RequestsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "http_requests_total",
			Help: "HTTP requests served, by route (ServeMux pattern; \"unmatched\" when answered before routing), method and status.",
		}, []string{"route", "method", "status"}),
		Seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by route and method.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method"}),
	}
	reg.MustRegister(m.RequestsTotal, m.Seconds)
	return m
}

// ObserveRequest records one request (httpx.RequestObserver). A method
// outside HTTP's own is labelled OTHER: the server accepts any token as a
// method, and a label per token would let any caller grow the series
// without bound.
func (m *HTTP) ObserveRequest(route, method string, status int, d time.Duration) {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
	default:
		method = "OTHER"
	}
	m.RequestsTotal.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.Seconds.WithLabelValues(route, method).Observe(d.Seconds())
}

// Purchases counts gateway's purchase requests.
type Purchases struct {
	AcceptedTotal prometheus.Counter
	FinishedTotal *prometheus.CounterVec
}

// NewPurchases registers vouchers_purchases_accepted_total and
// vouchers_purchases_total.
func NewPurchases(reg prometheus.Registerer) Purchases {
	m := Purchases{
		AcceptedTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "purchases_accepted_total",
			Help: "Purchase requests accepted (202), replays of an Idempotency-Key not counted.",
		}),
		FinishedTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "purchases_total",
			Help: "Purchase requests that reached their final state, by status (SUCCESS, LATE_SUCCESS, FAILED); each request once.",
		}, []string{"status"}),
	}
	reg.MustRegister(m.AcceptedTotal, m.FinishedTotal)
	return m
}

// Accepted counts one new purchase request.
func (m Purchases) Accepted() { m.AcceptedTotal.Inc() }

// Finished counts one request reaching its final status.
func (m Purchases) Finished(status string) { m.FinishedTotal.WithLabelValues(status).Inc() }

// Webhooks counts gateway's webhook attempts.
type Webhooks struct {
	AttemptsTotal *prometheus.CounterVec
}

// Webhook attempt outcomes.
const (
	WebhookDelivered = "delivered" // the receiver answered 2xx
	WebhookRetry     = "retry"     // it did not; another attempt is scheduled
	WebhookFellBack  = "fell_back" // it did not and the schedule ran out: the code goes by SMS
)

// NewWebhooks registers vouchers_webhook_attempts_total.
func NewWebhooks(reg prometheus.Registerer) Webhooks {
	m := Webhooks{AttemptsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "webhook_attempts_total",
		Help: "Webhook delivery attempts, by outcome (delivered, retry, fell_back).",
	}, []string{"outcome"})}
	reg.MustRegister(m.AttemptsTotal)
	return m
}

// Attempt counts one webhook attempt.
func (m Webhooks) Attempt(outcome string) { m.AttemptsTotal.WithLabelValues(outcome).Inc() }

// DeadLetters counts the dead letters gateway keeps.
type DeadLetters struct {
	Total *prometheus.CounterVec
}

// NewDeadLetters registers vouchers_dead_letters_total.
func NewDeadLetters(reg prometheus.Registerer) DeadLetters {
	m := DeadLetters{Total: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "dead_letters_total",
		Help: "Events that ended in a dead-letter topic, by the topic they were first published to; each event once.",
	}, []string{"topic"})}
	reg.MustRegister(m.Total)
	return m
}

// DeadLetter counts one dead letter of topic.
func (m DeadLetters) DeadLetter(topic string) { m.Total.WithLabelValues(topic).Inc() }

// Provider times voucher-int's calls to the Voucher Provider Server.
type Provider struct {
	Seconds *prometheus.HistogramVec
}

// NewProvider registers vouchers_provider_request_duration_seconds. The
// buckets surround the 3 s budget and the provider's 2.5 s acknowledgement.
func NewProvider(reg prometheus.Registerer) Provider {
	m := Provider{Seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "provider_request_duration_seconds",
		Help:    "Calls to the voucher provider, by operation (order, status) and outcome (code, ack, found, not_found, timeout, unavailable, refused).",
		Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 2.5, 3, 5},
	}, []string{"operation", "outcome"})}
	reg.MustRegister(m.Seconds)
	return m
}

// ProviderCall records one call.
func (m Provider) ProviderCall(operation, outcome string, d time.Duration) {
	m.Seconds.WithLabelValues(operation, outcome).Observe(d.Seconds())
}

// SMS counts the text messages the sms service sends.
type SMS struct {
	SentTotal *prometheus.CounterVec
}

// NewSMS registers vouchers_sms_sent_total.
func NewSMS(reg prometheus.Registerer) SMS {
	m := SMS{SentTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "sms_sent_total",
		Help: "Text messages handed to the SMS binding, by kind (voucher, phone_code, other).",
	}, []string{"kind"})}
	reg.MustRegister(m.SentTotal)
	return m
}

// Sent counts one message of kind.
func (m SMS) Sent(kind string) { m.SentTotal.WithLabelValues(kind).Inc() }

// Sweeps counts the passes of the cron sweeps, the items they looked at,
// and the work they could not do, by sweep and reason.
type Sweeps struct {
	FailuresTotal *prometheus.CounterVec
	PassesTotal   *prometheus.CounterVec
	ItemsTotal    *prometheus.CounterVec
}

// NewSweeps registers vouchers_sweep_failures_total,
// vouchers_sweep_passes_total and vouchers_sweep_items_total.
func NewSweeps(reg prometheus.Registerer) Sweeps {
	m := Sweeps{FailuresTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "sweep_failures_total",
		Help: "Items a cron sweep (outbox relay, request redrive, webhook sweep, reconciler) could not handle in a pass, by sweep and reason (the error's kind, timeout, cancelled), and whole passes that failed; each is looked at again by a later pass.",
	}, []string{"sweep", "reason"}),
		PassesTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "sweep_passes_total",
			Help: "Passes of a scheduled sweep, by outcome: swept (this replica held the schedule), held (another replica did: nothing done), failed (the schedule could not be taken). Every replica's cron fires each tick.",
		}, []string{"sweep", "outcome"}),
		ItemsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "sweep_items_total",
			Help: "Items a scheduled sweep looked at (done or failed and put back).",
		}, []string{"sweep"}),
	}
	reg.MustRegister(m.FailuresTotal, m.PassesTotal, m.ItemsTotal)
	return m
}

// Passed counts one pass of sweep and the items it looked at.
func (m Sweeps) Passed(sweep, outcome string, items int) {
	m.PassesTotal.WithLabelValues(sweep, outcome).Inc()
	if items > 0 {
		m.ItemsTotal.WithLabelValues(sweep).Add(float64(items))
	}
}

// Failed counts the failures of one pass of sweep, by reason.
func (m Sweeps) Failed(sweep string, reasons map[string]int) {
	for reason, n := range reasons {
		m.FailuresTotal.WithLabelValues(sweep, reason).Add(float64(n))
	}
}

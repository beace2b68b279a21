// Package metrics names every metric in one place, because dashboards and
// alerts depend on the names (docs/observability.md). Its types satisfy
// small interfaces the apps declare, so app code knows no Prometheus.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every metric.
const Namespace = "vouchers"

// NewRegistry includes the go_* and process_* collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves reg.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// HTTP labels by route pattern, never the raw path, so ids make no new series.
type HTTP struct {
	RequestsTotal *prometheus.CounterVec
	Seconds       *prometheus.HistogramVec
}

// NewHTTP registers the HTTP metrics.
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

// ObserveRequest labels unknown methods OTHER, so callers cannot add series.
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

// Purchases counts purchase requests.
type Purchases struct {
	AcceptedTotal prometheus.Counter
	FinishedTotal *prometheus.CounterVec
}

// NewPurchases registers the purchase metrics.
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

// Accepted counts a new request.
func (m Purchases) Accepted() { m.AcceptedTotal.Inc() }

// Finished counts a request reaching its final status.
func (m Purchases) Finished(status string) { m.FinishedTotal.WithLabelValues(status).Inc() }

// Webhooks counts webhook attempts.
type Webhooks struct {
	AttemptsTotal *prometheus.CounterVec
}

// Webhook attempt outcomes.
const (
	WebhookDelivered = "delivered" // the receiver answered 2xx
	WebhookRetry     = "retry"     // it did not; another attempt is scheduled
	WebhookFellBack  = "fell_back" // it did not and the schedule ran out: the code goes by SMS
)

// NewWebhooks registers the webhook metric.
func NewWebhooks(reg prometheus.Registerer) Webhooks {
	m := Webhooks{AttemptsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "webhook_attempts_total",
		Help: "Webhook delivery attempts, by outcome (delivered, retry, fell_back).",
	}, []string{"outcome"})}
	reg.MustRegister(m.AttemptsTotal)
	return m
}

// Attempt counts an attempt.
func (m Webhooks) Attempt(outcome string) { m.AttemptsTotal.WithLabelValues(outcome).Inc() }

// DeadLetters counts dead letters.
type DeadLetters struct {
	Total *prometheus.CounterVec
}

// NewDeadLetters registers the dead letter metric.
func NewDeadLetters(reg prometheus.Registerer) DeadLetters {
	m := DeadLetters{Total: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "dead_letters_total",
		Help: "Events that ended in a dead-letter topic, by the topic they were first published to; each event once.",
	}, []string{"topic"})}
	reg.MustRegister(m.Total)
	return m
}

// DeadLetter counts one of topic.
func (m DeadLetters) DeadLetter(topic string) { m.Total.WithLabelValues(topic).Inc() }

// Provider times calls to the Voucher Provider Server.
type Provider struct {
	Seconds *prometheus.HistogramVec
}

// NewProvider's buckets surround the 3 s budget and the 2.5 s acknowledgement.
func NewProvider(reg prometheus.Registerer) Provider {
	m := Provider{Seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "provider_request_duration_seconds",
		Help:    "Calls to the voucher provider, by operation (order, status) and outcome (code, ack, found, not_found, timeout, unavailable, refused).",
		Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 2.5, 3, 5},
	}, []string{"operation", "outcome"})}
	reg.MustRegister(m.Seconds)
	return m
}

// ProviderCall records a call.
func (m Provider) ProviderCall(operation, outcome string, d time.Duration) {
	m.Seconds.WithLabelValues(operation, outcome).Observe(d.Seconds())
}

// SMS counts text messages sent.
type SMS struct {
	SentTotal *prometheus.CounterVec
}

// NewSMS registers the SMS metric.
func NewSMS(reg prometheus.Registerer) SMS {
	m := SMS{SentTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "sms_sent_total",
		Help: "Text messages handed to the SMS binding, by kind (voucher, phone_code, other).",
	}, []string{"kind"})}
	reg.MustRegister(m.SentTotal)
	return m
}

// Sent counts a message.
func (m SMS) Sent(kind string) { m.SentTotal.WithLabelValues(kind).Inc() }

// Sweeps counts cron sweeps' passes, items and failures.
type Sweeps struct {
	FailuresTotal *prometheus.CounterVec
	PassesTotal   *prometheus.CounterVec
	ItemsTotal    *prometheus.CounterVec
}

// NewSweeps registers the sweep metrics.
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

// Passed counts a pass and its items.
func (m Sweeps) Passed(sweep, outcome string, items int) {
	m.PassesTotal.WithLabelValues(sweep, outcome).Inc()
	if items > 0 {
		m.ItemsTotal.WithLabelValues(sweep).Add(float64(items))
	}
}

// Failed counts a pass's failures by reason.
func (m Sweeps) Failed(sweep string, reasons map[string]int) {
	for reason, n := range reasons {
		m.FailuresTotal.WithLabelValues(sweep, reason).Add(float64(n))
	}
}

package app

import (
	"github.com/nodewatch/nodewatch/internal/config"
	"github.com/nodewatch/nodewatch/internal/notify/alertmanager"
	"github.com/nodewatch/nodewatch/internal/notify/outbox"
	"github.com/nodewatch/nodewatch/internal/notify/webhook"
)

// extraSinks builds the generic webhook and Alertmanager sinks.
func extraSinks(cfg config.Config) ([]outbox.Sink, error) {
	var out []outbox.Sink
	if cfg.Webhook.URL != "" {
		n, err := webhook.New(webhook.Options{URL: cfg.Webhook.URL}, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, outbox.Sink{Name: "webhook", Notifier: n})
	}
	if cfg.Alertmanager.URL != "" {
		n, err := alertmanager.New(alertmanager.Options{URL: cfg.Alertmanager.URL}, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, outbox.Sink{Name: "alertmanager", Notifier: n})
	}
	return out, nil
}

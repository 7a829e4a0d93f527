package main

import (
	"strings"
	"testing"
)

// TestLoadConfigRefusesAPaymentLimitThatCannotWork: NaN parses as a
// number, but every comparison with it is false, so a limit of NaN paid
// every order; an infinite limit is no limit.
func TestLoadConfigRefusesAPaymentLimitThatCannotWork(t *testing.T) {
	for _, value := range []string{"NaN", "nan", "Inf", "+Inf", "-Inf", "Infinity", "1e400", "-1"} {
		_, err := loadConfig(func(k string) string {
			if k == "PAYMENT_LIMIT" {
				return value
			}
			return ""
		})
		if err == nil || !strings.Contains(err.Error(), "PAYMENT_LIMIT: ") {
			t.Errorf("PAYMENT_LIMIT=%s: err = %v, want one naming PAYMENT_LIMIT", value, err)
		}
	}
	cfg, err := loadConfig(func(k string) string {
		if k == "PAYMENT_LIMIT" {
			return "250.5"
		}
		return ""
	})
	if err != nil || cfg.Payment.Limit != 250.5 {
		t.Errorf("PAYMENT_LIMIT=250.5: limit %v, err %v; want 250.5 accepted", cfg.Payment.Limit, err)
	}
}

package app

import (
	"fmt"
	"time"
)

func codeText(code string, ttl time.Duration) string {
	return fmt.Sprintf("Your Bank ABC verification code is %s. It expires in %s. Never share it with anyone.", code, ttl.Round(time.Second))
}

// UnlockCodeText is the SMS with a code that lifts a sign-in lock.
func UnlockCodeText(code string, ttl time.Duration) string {
	return fmt.Sprintf("Your Bank ABC sign-in unlock code is %s. It expires in %s. Someone tried many wrong passwords on your account: if it was not you, change your password after signing in. Never share this code.", code, ttl.Round(time.Second))
}

func signUpNoticeText() string {
	return "Someone just opened a Bank ABC vouchers account with your phone number. It cannot use your number unless it receives a code: your own account is unchanged. If it was you, sign in to your existing account instead."
}

module github.com/bankabc/vouchers/services/sms

go 1.26.0

module github.com/bankabc/vouchers/services/voucher-int

go 1.26.0

module github.com/bankabc/vouchers/services/voucher-provider

go 1.26.0

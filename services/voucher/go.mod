module github.com/bankabc/vouchers/services/voucher

go 1.26.0

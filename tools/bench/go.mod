module github.com/bankabc/vouchers/tools/bench

go 1.26.0

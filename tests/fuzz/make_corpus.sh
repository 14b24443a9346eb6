#!/bin/sh
# Seed corpora of the fuzz harnesses, generated (nothing binary is committed):
#   sh tests/fuzz/make_corpus.sh MAKE_CORPUS_BIN OUTDIR
# OUTDIR/<harness>/ gets the binary seeds written by make_corpus (valid .npy, index, model,
# id-dictionary and lookalike side files made by the library itself, plus hand-made
# variants) and the text seeds below; the regression inputs of tests/fuzz/regress/ are
# added too. Each text seed starts with the harness's mode bytes where it has them (see
# the harness's comment). OUTDIR is recreated from scratch.
set -e
gen=$1
out=$2
[ -x "$gen" ] && [ -n "$out" ] || { echo "usage: make_corpus.sh MAKE_CORPUS_BIN OUTDIR" >&2; exit 2; }
here=$(dirname "$0")
rm -rf "$out"
for h in npy ids_npy index model ids_dict csv params lookalike; do mkdir -p "$out/$h"; done
"$gen" "$out" >/dev/null 2>&1 || { echo "make_corpus.sh: $gen failed:" >&2; "$gen" "$out" >&2; exit 1; }

# s HARNESS NAME PRINTF-FORMAT: one seed, written by printf (octal escapes for bytes)
# shellcheck disable=SC2059 # the seed is the format
s() { printf "$3" > "$out/$1/$2"; }

# ---- ratings CSV/TSV: two option bytes (see fuzz_csv.c), then the file
s csv header_ints       '\020\000user,item\n1,2\n3,4\n3,2\n'
s csv names_value_time  '\020\032user,item,value,time\nalice,sku1,1.5,2024-01-02\nbob,sku2,2,1700000000\n"c, d",sku1,3e2,31-12-2023\n'
s csv tsv_default       '\000\101\061\t2\t3\n4\t5\t6\r\n\n7\t8\t9\n'
s csv skip_bad          '\061\000\061,2\nx\n,\n3,4\n"unterminated\n5,"six"\n'
s csv ids_string        '\300\000007,1\n7,1\n+7,2\n'
s csv ids_int_lenient   '\200\000 +007 ,1\n-5,00\n'
s csv ids_auto_mixed    '\100\000\061\n2,3\n00123,4\n123,4\n99999999999999999999,1\n'
s csv semicolon_value   '\005\001\061;2;0.5\n3;4;-1\n5;6;nan\n'
s csv bom_crlf          '\020\000\357\273\277user,item\r\n1,2\r\n'
s csv quoted            '\021\020user,item\n"a ""b""",  "c"  \n"x,y",z\n'
s csv pipe_time_index   '\007\015\061|2|3|1999-12-31\n4|5|6|-86400\n7|8|9|29-02-2001\n'
s csv swapped_cols      '\060\040\061,2\n,3\n4,\n'
s csv same_col          '\000\200a\nb\nc,d\n'
s csv raw_options       '\377sep=;,header=1,user=u,item=i,value=v,skip_bad=1,ids=auto\nu;i;v\na;b;1\nc;d;x\n'
s csv raw_options_sep   '\377 sep=, , header = 1 ,time=t,user=2,item=0,,\nx,t,y\n1,2,3\n'
s csv raw_bad_option    '\377sep=ab,foo=1,user=\n1,2\n'
s csv nul_byte          '\020\000user,item\n1,\0002\n'

# ---- id dictionaries (MODEL.ids)
s ids_dict plain        'user\t0\talice\nuser\t1\tbob\nitem\t0\tsku-1\n'
s ids_dict run_escapes  '#als-ids run=0123456789abcdef\nuser\t0\ta\\tb\nitem\t0\tc\\\\d\nuser\t1\te\\nf\\r\n'
s ids_dict crlf_blank   'user\t0\ta\r\n\r\n\nitem\t0\tb\r\n'
s ids_dict bad_run      '#als-ids run=0123\nuser\t0\ta\n'
s ids_dict dup_name     'user\t0\ta\nuser\t1\ta\n'
s ids_dict gap          'item\t0\tx\nitem\t2\ty\n'
s ids_dict bad_escape   'user\t0\ta\\qb\n'
s ids_dict huge_id      'user\t99999999999999999999\ta\n'

# ---- parameter strings (fuzz_params.c)
s params spark  'rank=10\nmaxIter=5\nimplicitPrefs=true\nregParam=0.01\nalpha=40\nnonnegative=FALSE\nseed=42\n?100\n'
s params ours   'solver=cg\ncgSteps=3\nregScaling=none\nnumThreads=1\ncomputeLoss=1\nsolver=CHOLESKY\nregScaling=count\n?0\n'
s params bounds 'rank=0\nrank=1025\nrank=1024\nmaxIter=100001\nregParam=-1\nregParam=1e9\nalpha=nan\nalpha=inf\nseed=-1\nseed=9223372036854775807\nseed=9223372036854775808\ncgSteps=0x10\nrank= 7\nrank=7 \n'
s params keys   '%%100=5\n%%200=0.5\n%%201=1e300\n%%300=9223372036854775807\n%%999=1\n%%102=2\n%%900=4096\n?4095\n'
s params vecidx '!100=3\n!100=0\n!100=2147483648\n!901=1\n!901=2\n!901=3\n!901=4\n!300=9223372036854775807\n!301=1000\n!302=1000001\n!900=4097\n!77=1\n'

# ---- lookalike --seeds files: byte 0 (0 = seeds, +8 integer-id model, +16 IVF), byte 1 knobs
s lookalike seeds_names        '\000\000customer\ncust00\ncust05\n"o'"'"'brien, pat"\nnot-a-user\n'
s lookalike seeds_audience     '\000\051customer,score,via\ncust01,0.9,i2u2u\ncust07,0.5,i2u2u\n\n\r\n'
s lookalike seeds_ints         '\010\012\061000\n1003,0.5,x\n99999\n-1\n\n'
s lookalike seeds_ivf          '\030\201\061000\n1006\n1009\n'
s lookalike seeds_unknown      '\000\003nobody\nnone\n'
s lookalike seeds_empty        '\020\000'
s lookalike seeds_mean_l2      '\000\070cust02\ncust02\ncust02\n'

# ---- the regression inputs, so that fuzzing starts from them too
if [ -f "$here/regress/cases.txt" ]; then
  sh "$here/regress/regress.sh" --write "$out"
fi
n=$(find "$out" -type f | wc -l)
echo "make_corpus: $n seeds in $out"

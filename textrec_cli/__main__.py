from textrec_cli.cli import main

main()

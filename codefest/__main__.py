from codefest.cli import main

main()

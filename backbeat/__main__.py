from backbeat.cli import main

main()
